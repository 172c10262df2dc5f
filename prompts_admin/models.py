import secrets

from django.conf import settings
from django.db import models


def new_salt() -> str:
    return secrets.token_hex(8)


class PromptTemplate(models.Model):
    """An assistant users can chat with: its model, generation parameters and fallback chain.

    What the model is told lives in immutable `PromptVersion`s; labels and experiments choose
    which one a turn is served. `system_prompt` is the text of the newest version, kept for
    reading and for creating a template in one call (its first version is made from it).
    """

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    system_prompt = models.TextField(
        help_text="Saving a changed text creates the next version (labels do not move)."
    )
    model = models.ForeignKey("gateway.LanguageModel", on_delete=models.PROTECT)
    temperature = models.FloatField(
        null=True,
        blank=True,
        help_text="Empty: the provider's default (some models accept no other).",
    )
    max_output_tokens = models.PositiveIntegerField(default=1024)
    # Timeouts of each model call (the router cuts a call that exceeds one and moves on).
    connect_timeout_seconds = models.FloatField(default=5.0)
    first_token_timeout_seconds = models.FloatField(default=20.0)
    stall_timeout_seconds = models.FloatField(
        default=15.0, help_text="Longest silence allowed between two tokens."
    )
    total_timeout_seconds = models.FloatField(default=30.0)
    # Tool allowlist: built-in tool names and mcp:<server slug> entries (gateway/tools).
    tools = models.JSONField(
        default=list, blank=True, help_text="Tools the model may call in this assistant's turns."
    )
    is_default = models.BooleanField(
        default=False, help_text="Used for new conversations when the user picks none."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="one_default_template",
            )
        ]

    def __str__(self) -> str:
        return self.name


class FallbackStep(models.Model):
    """A model to try, in order, when the template's own model fails or its breaker is open."""

    template = models.ForeignKey(PromptTemplate, on_delete=models.CASCADE, related_name="fallbacks")
    model = models.ForeignKey("gateway.LanguageModel", on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["template", "model"], name="fallback_once_per_template")
        ]

    def __str__(self) -> str:
        return f"{self.template} → {self.model}"


class PromptVersion(models.Model):
    """One immutable system prompt of a template. Editing saves the next version instead."""

    template = models.ForeignKey(PromptTemplate, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    system_prompt = models.TextField(
        help_text="Sandboxed Jinja2. Supplied by the app: {{ user_name }}, {{ today }}, "
        "{{ assistant_name }}; declare any other variable with a default."
    )
    # {"name": "default value"}: variables this version uses besides the built-in ones.
    variables = models.JSONField(default=dict, blank=True)
    model = models.ForeignKey(
        "gateway.LanguageModel",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Empty: the template's model.",
    )
    change_note = models.CharField(max_length=300)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["template", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["template", "number"], name="version_number_once")
        ]

    def __str__(self) -> str:
        return f"{self.template.slug} v{self.number}"

    def save(self, *args, **kwargs) -> None:
        # A database trigger refuses updates too; this says so before the round trip.
        if self.pk is not None:
            raise ImmutableVersion(f"{self} is saved and cannot change; save a new version.")
        super().save(*args, **kwargs)


class ImmutableVersion(Exception):
    pass


class PromptLabel(models.Model):
    """A name (`production`, `staging`, ...) pointing at one version of a template."""

    PRODUCTION = "production"

    template = models.ForeignKey(PromptTemplate, on_delete=models.CASCADE, related_name="labels")
    name = models.SlugField(max_length=50)
    version = models.ForeignKey(PromptVersion, on_delete=models.RESTRICT, related_name="labels")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["template", "name"]
        constraints = [models.UniqueConstraint(fields=["template", "name"], name="label_once")]

    def __str__(self) -> str:
        return f"{self.template.slug}@{self.name} → v{self.version.number}"


class LabelMove(models.Model):
    """History of a label: every move, with who, when and why."""

    class Kind(models.TextChoices):
        CREATE = "create"
        MOVE = "move"
        ROLLBACK = "rollback"
        PROMOTE = "promote"

    label = models.ForeignKey(PromptLabel, on_delete=models.CASCADE, related_name="moves")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    from_version = models.ForeignKey(
        PromptVersion, null=True, blank=True, on_delete=models.RESTRICT, related_name="+"
    )
    to_version = models.ForeignKey(PromptVersion, on_delete=models.RESTRICT, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.label.name}: {self.kind} → v{self.to_version.number}"


GUARD_METRIC_HELP = (
    "Besides the error rate, a variant significantly worse on this is stopped. Shadow "
    "experiments are guarded only on error rate, latency and cost: no one sees shadow answers, "
    "so they get no thumbs, eval or judge scores."
)


class Experiment(models.Model):
    """Control and variants of one template, split by a sticky hash of (user, salt).

    A/B: each user is served their arm's version. Shadow: everyone is served the control; for
    users in a variant's share the variant also runs, in a Celery task, and is only recorded.
    """

    class Mode(models.TextChoices):
        AB = "ab", "A/B (variants are served)"
        SHADOW = "shadow", "Shadow (variants run, never shown)"

    class State(models.TextChoices):
        DRAFT = "draft"
        RUNNING = "running"
        PROMOTED = "promoted"
        ABORTED = "aborted"

    class GuardMetric(models.TextChoices):
        NONE = "", "error rate only"
        LATENCY = "latency_ms", "latency (higher is worse)"
        COST = "cost", "cost per request (higher is worse)"
        THUMBS_UP = "thumbs_up", "thumbs-up rate (lower is worse)"
        EVAL_SCORE = "eval_score", "eval score (lower is worse)"
        JUDGE_SCORE = "judge_score", "LLM judge score (lower is worse)"

    template = models.ForeignKey(
        PromptTemplate, on_delete=models.CASCADE, related_name="experiments"
    )
    name = models.CharField(max_length=100)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.AB)
    state = models.CharField(max_length=10, choices=State.choices, default=State.DRAFT)
    salt = models.CharField(max_length=32, default=new_salt, editable=False)
    guard_metric = models.CharField(
        max_length=20,
        choices=GuardMetric.choices,
        blank=True,
        default="",
        help_text=GUARD_METRIC_HELP,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["template"],
                condition=models.Q(state="running"),
                name="one_running_experiment_per_template",
            )
        ]
        indexes = [models.Index(fields=["template", "state"])]

    def __str__(self) -> str:
        return self.name


class ExperimentArm(models.Model):
    """The control (the rest of the traffic) or a variant (a percentage of it)."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="arms")
    name = models.SlugField(max_length=50)
    version = models.ForeignKey(PromptVersion, on_delete=models.RESTRICT, related_name="+")
    is_control = models.BooleanField(default=False)
    percent = models.PositiveSmallIntegerField(
        default=0, help_text="Share of users for a variant; the control gets the rest."
    )
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.TextField(blank=True)
    # The numbers that stopped it: arm and control counts, rates, p-value.
    stop_numbers = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["experiment", "-is_control", "id"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "name"], name="arm_name_once"),
            models.CheckConstraint(condition=models.Q(percent__lte=100), name="arm_percent_max"),
        ]

    def __str__(self) -> str:
        return f"{self.experiment}: {self.name}"


class ExperimentEvent(models.Model):
    """The experiment's log: start, ramp, promote, abort, automatic stop (by the system user)."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="events")
    arm = models.ForeignKey(
        ExperimentArm, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    action = models.CharField(max_length=20)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField(blank=True)
    numbers = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.experiment}: {self.action}"


class ShadowRun(models.Model):
    """A variant's answer to a real turn, run in the background and never shown to the user."""

    arm = models.ForeignKey(ExperimentArm, on_delete=models.CASCADE, related_name="shadow_runs")
    request_log = models.ForeignKey(
        "observability.RequestLog", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    served_text = models.TextField(blank=True)
    shadow_text = models.TextField(blank=True)
    status = models.CharField(max_length=20)
    error_kind = models.CharField(max_length=50, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    cost = models.DecimalField(max_digits=12, decimal_places=8, null=True, blank=True)
    # 0..1: how alike the shadow and the served answers are (difflib ratio).
    similarity = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"shadow {self.arm} {self.status}"
