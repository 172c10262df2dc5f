from django.core.management.base import BaseCommand

from gateway.cache.reembed import reembed_cache


class Command(BaseCommand):
    help = "Re-embed cached questions with the configured EMBEDDER (run after changing it)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--all", action="store_true", help="also entries already up to date")
        parser.add_argument("--batch-size", type=int, default=256)

    def handle(self, *args, **options) -> None:
        count = reembed_cache(
            batch_size=options["batch_size"],
            everything=options["all"],
            progress=lambda done: self.stdout.write(f"re-embedded {done}"),
        )
        self.stdout.write(self.style.SUCCESS(f"{count} cache entries re-embedded"))
