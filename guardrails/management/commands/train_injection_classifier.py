"""Train the injection classifier on the evaldata *_train files and write the versioned artifact."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from guardrails.classifier import ARTIFACT
from guardrails.selectors import reviewed_examples
from guardrails.training import HARD_NEGATIVES, TRAIN_FILES, evaldata_dir, read_labelled, train


class Command(BaseCommand):
    help = "Train the prompt-injection classifier (reproducible) and write guardrails/artifacts/."

    def add_arguments(self, parser):
        parser.add_argument("--data", type=Path, default=None, help="evaldata folder")
        parser.add_argument("--out", type=Path, default=ARTIFACT)
        parser.add_argument(
            "--include-reviewed",
            action="store_true",
            help="also learn from blocks staff reviewed in admin (false positives as benign)",
        )

    def handle(self, *args, data: Path | None, out: Path, include_reviewed: bool, **options):
        data = data or evaldata_dir()
        missing = [name for name in TRAIN_FILES if not (data / name).exists()]
        if missing:
            raise CommandError(f"not found in {data}: {', '.join(missing)}")
        examples = [row for name in TRAIN_FILES for row in read_labelled(data / name)]
        examples += read_labelled(HARD_NEGATIVES)
        reviewed = reviewed_examples() if include_reviewed else []
        classifier, meta = train(examples + reviewed)
        classifier.save(out, meta={**meta, "reviewed_rows": len(reviewed)})
        self.stdout.write(
            f"{classifier.version}: {meta['rows']} rows ({len(reviewed)} reviewed), "
            f"threshold {classifier.threshold:.3f}, out-of-fold recall "
            f"{meta['out_of_fold_recall_at_threshold']:.1%} at FPR ≤ {meta['target_fpr']:.0%}, "
            f"{out.stat().st_size // 1024} KB → {out}"
        )
