"""Train the injection classifier on the evaldata *_train files and write the versioned artifact."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from guardrails.classifier import ARTIFACT
from guardrails.selectors import reviewed_examples
from guardrails.training import (
    ORDINARY_QUESTIONS,
    TRAIN_FILES,
    evaldata_dir,
    read_sources,
    train,
)


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
        needed = (*TRAIN_FILES, ORDINARY_QUESTIONS)
        missing = [name for name in needed if not (data / name).exists()]
        if missing:
            raise CommandError(f"not found in {data}: {', '.join(missing)}")
        examples, sources = read_sources(data)
        reviewed = reviewed_examples() if include_reviewed else []
        classifier, meta = train(
            examples + reviewed, sources=sources + ["reviewed"] * len(reviewed)
        )
        classifier.save(out, meta={**meta, "reviewed_rows": len(reviewed)})
        recalls = ", ".join(
            f"{name} {recall:.1%}"
            for name, recall in meta["validation_recall_at_threshold"].items()
        )
        self.stdout.write(
            f"{classifier.version}: {meta['rows']} rows ({len(reviewed)} reviewed), C {meta['c']}, "
            f"threshold {classifier.threshold:.3f}; validation recall at FPR ≤ "
            f"{meta['target_fpr']:.0%}: {recalls}; {out.stat().st_size // 1024} KB → {out}"
        )
