import uuid

from django.conf import settings
from django.db import models


class RequestLog(models.Model):
    """One row per model call a user pays for: a turn, or a background title job.

    What was asked of which model, what it cost and how it went. Turn statistics (latency,
    errors, quality, experiments) read `purpose="turn"` only; spend (cost pages, budgets) reads all.

    Token counts are the provider-reported usage, kept apart so each is priced once:
    `input_tokens` excludes cached input, which is in `cached_input_tokens`.
    """

    class Purpose(models.TextChoices):
        TURN = "turn"
        TITLE = "title"

    request_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    purpose = models.CharField(max_length=10, choices=Purpose.choices, default=Purpose.TURN)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    conversation = models.ForeignKey(
        "chat.Conversation", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    message = models.ForeignKey(
        "chat.Message", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    template = models.ForeignKey(
        "prompts_admin.PromptTemplate", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    model_requested = models.CharField(max_length=100)
    model_used = models.CharField(max_length=100, blank=True)
    provider = models.CharField(max_length=20, blank=True)
    simulated = models.BooleanField(default=False)
    input_tokens = models.PositiveIntegerField(default=0)
    cached_input_tokens = models.PositiveIntegerField(default=0)
    cache_write_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=12, decimal_places=8, null=True, blank=True)
    priced = models.BooleanField(default=True, help_text="False when the model has no price.")
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=20)
    error_kind = models.CharField(max_length=50, blank=True)
    # Every model call of the turn: model, outcome, status, backoff wait, duration, usage, cost.
    attempts = models.JSONField(default=list, blank=True)
    fallback_used = models.BooleanField(default=False)
    # The prompt version actually served (not the label), and the experiment arm, if any.
    prompt_version = models.ForeignKey(
        "prompts_admin.PromptVersion", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    experiment_arm = models.ForeignKey(
        "prompts_admin.ExperimentArm", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Stage 5, timed apart from the model: null when the assistant does not use retrieval.
    retrieval_ms = models.PositiveIntegerField(null=True, blank=True)
    retrieval_error = models.CharField(
        max_length=50, blank=True, help_text="Why the turn was answered without context."
    )
    # The passages given to the model: document, passage number and excerpt.
    citations = models.JSONField(default=list, blank=True)
    # Tools the turn ran: [{"name", "arguments", "ok", "result"}], in call order.
    tools_used = models.JSONField(default=list, blank=True)
    # Semantic cache: hit (answered from the cache, cost 0), miss, bypass (the cache failed), or
    # off (the assistant does not cache); on a hit, the entry served and its similarity.
    cache_status = models.CharField(max_length=10, blank=True)
    cache_hit = models.BooleanField(default=False)
    cache_similarity = models.FloatField(null=True, blank=True)
    cache_entry_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["created_at"]),
            models.Index(fields=["user", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.request_id} {self.model_used or self.model_requested} {self.status}"


class Feedback(models.Model):
    """A user's thumbs up or down on one assistant reply, with an optional comment."""

    UP, DOWN = 1, -1

    message = models.ForeignKey("chat.Message", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    score = models.SmallIntegerField(choices=[(UP, "thumbs up"), (DOWN, "thumbs down")])
    comment = models.TextField(blank=True, max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "message"], name="one_feedback_per_user_reply"),
            models.CheckConstraint(
                condition=models.Q(score__in=[1, -1]), name="feedback_is_up_or_down"
            ),
        ]
        verbose_name_plural = "feedback"

    def __str__(self) -> str:
        return f"{'+1' if self.score == self.UP else '-1'} on message {self.message_id}"


class EvalRubric(models.Model):
    """What the LLM judge is asked to grade, by which model, on what share of turns.

    The active rubric with the latest change is the one used; older ones stay for the record.
    """

    name = models.CharField(max_length=100)
    instructions = models.TextField(
        help_text="What a good answer does. The judge replies with a score from 1 to 5 and why."
    )
    judge_model = models.ForeignKey(
        "gateway.LanguageModel", on_delete=models.PROTECT, related_name="+"
    )
    sample_rate = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=0.1,
        help_text="Share of answered turns the judge grades, from 0 (none) to 1 (all).",
    )
    active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(sample_rate__gte=0, sample_rate__lte=1),
                name="rubric_sample_rate_is_a_share",
            )
        ]

    def __str__(self) -> str:
        return self.name


class EvalResult(models.Model):
    """The background evaluation of one turn: cheap checks always, the judge on a sample."""

    class Status(models.TextChoices):
        OK = "ok"
        FAILED = "failed"

    request_log = models.OneToOneField(
        RequestLog, on_delete=models.CASCADE, related_name="evaluation"
    )
    status = models.CharField(max_length=10, choices=Status.choices)
    reason = models.TextField(blank=True, help_text="Why the evaluation failed, if it did.")
    # {"empty": bool, "refusal": bool, "truncated": bool, "format": bool}: true means a problem.
    checks = models.JSONField(default=dict)
    check_score = models.FloatField(help_text="Share of cheap checks passed, 0 to 1.")
    judge_score = models.FloatField(
        null=True, blank=True, help_text="Judge's 1-5 score, scaled to 0-1."
    )
    judge_reason = models.TextField(blank=True)
    judge_model = models.CharField(max_length=100, blank=True)
    rubric = models.ForeignKey(EvalRubric, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"eval of {self.request_log_id}: {self.status}"


class _Usage(models.Model):
    """Exact sums of request logs: the same decimals as the logs, so equal to the cent."""

    turns = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    unpriced = models.PositiveIntegerField(default=0, help_text="Turns on a model with no price.")
    input_tokens = models.BigIntegerField(default=0)
    cached_input_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cost = models.DecimalField(max_digits=16, decimal_places=8, default=0)

    class Meta:
        abstract = True


class UsageRollup(_Usage):
    """Request logs summed per day, user, model and template (the per-user cost pages)."""

    day = models.DateField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    model = models.CharField(max_length=100)
    template = models.ForeignKey(
        "prompts_admin.PromptTemplate", null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["day"]), models.Index(fields=["user", "day"])]
        permissions = [
            ("view_dashboards", "Can view cost and quality dashboards"),
            ("view_metrics", "Can read the Prometheus /metrics endpoint"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.model} user {self.user_id}"


class _UserUsage(models.Model):
    """One user's usage summed over a period: what the per-user cost pages read."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    turns = models.PositiveIntegerField(default=0)
    unpriced = models.PositiveIntegerField(default=0)
    input_tokens = models.BigIntegerField(
        default=0, help_text="All input: uncached, cached, writes."
    )
    output_tokens = models.BigIntegerField(default=0)
    cost = models.DecimalField(max_digits=16, decimal_places=8, default=0)

    class Meta:
        abstract = True


# Covering indexes: a range's per-user sums are read from the index alone (index-only scan).
_USER_SUMS = ["turns", "unpriced", "input_tokens", "output_tokens", "cost"]


class UserDayRollup(_UserUsage):
    """UsageRollup summed per day and user, without model and assistant: ~1 row per active user.

    The per-user pages read it for the days of a range that no whole week or month covers.
    """

    day = models.DateField()

    class Meta:
        indexes = [
            models.Index(fields=["day", "user"], include=_USER_SUMS, name="userdayrollup_day_user")
        ]

    def __str__(self) -> str:
        return f"{self.day} user {self.user_id}"


class UserWeekRollup(_UserUsage):
    """UserDayRollup summed per ISO week (Monday to Sunday) and user."""

    week = models.DateField(help_text="The Monday the week starts on.")

    class Meta:
        indexes = [
            models.Index(
                fields=["week", "user"], include=_USER_SUMS, name="userweekrollup_week_user"
            )
        ]

    def __str__(self) -> str:
        return f"week of {self.week} user {self.user_id}"


class UserMonthRollup(_UserUsage):
    """UserDayRollup summed per calendar month and user: a year of per-user cost in ~12 rows each.

    Weeks and months are recomputed from the daily rollups (which outlive the logs) for every
    week and month a rollup touches.
    """

    month = models.DateField(help_text="The first day of the month.")

    class Meta:
        indexes = [
            models.Index(
                fields=["month", "user"], include=_USER_SUMS, name="usermonthrollup_month_user"
            )
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} user {self.user_id}"


class DailyRollup(_Usage):
    """Request logs summed per day, model, template, prompt version and experiment arm.

    Carries what the cost, cache and quality dashboards need, including eval scores and thumbs.
    """

    day = models.DateField(db_index=True)
    model = models.CharField(max_length=100)
    template = models.ForeignKey(
        "prompts_admin.PromptTemplate", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # As a manager reads them: "v3", "<experiment>: <arm>" (blank when none).
    prompt_version = models.CharField(max_length=100, blank=True)
    arm = models.CharField(max_length=100, blank=True)
    fallbacks = models.PositiveIntegerField(default=0)
    cache_hits = models.PositiveIntegerField(default=0)
    blocked = models.PositiveIntegerField(default=0)
    evals = models.PositiveIntegerField(default=0)
    eval_score_sum = models.FloatField(default=0)
    judged = models.PositiveIntegerField(default=0)
    judge_score_sum = models.FloatField(default=0)
    thumbs_up = models.PositiveIntegerField(default=0)
    thumbs_down = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.day} {self.model} {self.prompt_version} {self.arm}"


class LatencyRollup(models.Model):
    """Per day and model (and "*" for all models): latency and TTFT percentiles, error rates."""

    ALL_MODELS = "*"

    day = models.DateField()
    model = models.CharField(max_length=100)
    turns = models.PositiveIntegerField()
    failed = models.PositiveIntegerField(default=0)
    fallbacks = models.PositiveIntegerField(default=0)
    latency_p50 = models.PositiveIntegerField(null=True)
    latency_p95 = models.PositiveIntegerField(null=True)
    latency_p99 = models.PositiveIntegerField(null=True)
    ttft_p50 = models.PositiveIntegerField(null=True)
    ttft_p95 = models.PositiveIntegerField(null=True)
    ttft_p99 = models.PositiveIntegerField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "model"], name="one_latency_rollup_per_day")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.model}"


class BlockRollup(models.Model):
    """Per day: turns blocked by each guardrail rule (a blocked log's `error_kind`)."""

    day = models.DateField()
    rule = models.CharField(max_length=50)
    blocked = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "rule"], name="one_block_rollup")]

    def __str__(self) -> str:
        return f"{self.day} {self.rule}"
