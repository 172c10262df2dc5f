"""Train the semantic cache's pair classifier on paraphrase_qqp_train and write the artifact."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from gateway.cache.classifier import ARTIFACT
from gateway.cache.training import TRAIN_FILE, evaldata_dir, read_pairs, train


class Command(BaseCommand):
    help = "Train the cache's pair classifier (reproducible); write gateway/cache/artifacts/."

    def add_arguments(self, parser):
        parser.add_argument("--data", type=Path, default=None, help="evaldata folder")
        parser.add_argument("--out", type=Path, default=ARTIFACT)
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, data: Path | None, out: Path, seed: int, **options):
        path = (data or evaldata_dir()) / TRAIN_FILE
        if not path.exists():
            raise CommandError(f"not found: {path}")
        gate = settings.CACHE_SIMILARITY_THRESHOLD
        classifier, meta = train(read_pairs(path), gate=gate, seed=seed)
        classifier.save(out, meta=meta)
        self.stdout.write(
            f"{classifier.version}: {meta['rows']} pairs, threshold {classifier.threshold:.3f} at "
            f"similarity ≥ {gate}; validation hit rate {meta['validation_hit_rate']:.1%}, "
            f"false-hit rate {meta['validation_false_hit_rate']:.2%}, "
            f"{out.stat().st_size // 1024} KB → {out}"
        )
