"""What customers do and what we learn from it: catalog, behaviour events, segments, models."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from devices.models import EXTERNAL_ID_LENGTH, Customer


class Category(models.Model):
    external_id = models.CharField(max_length=64, unique=True, help_text="Category id in your catalog.")
    name = models.CharField(max_length=200, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")

    class Meta:
        verbose_name_plural = "categories"
        ordering = ["external_id"]

    def __str__(self) -> str:
        return self.name or f"Category {self.external_id}"


class Item(models.Model):
    """A product that can be recommended in a notification."""

    external_id = models.CharField(max_length=EXTERNAL_ID_LENGTH, unique=True, help_text="Product id in your catalog.")
    title = models.CharField(max_length=300, blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    available = models.BooleanField(default=True, help_text="Unavailable items are never recommended.")
    recommendable = models.BooleanField(
        default=True,
        help_text="Off for lines that are not products (postage, fees, gift wrap): never recommended, whatever "
        "people buy. Detected from the id and title when the shop does not say.",
    )
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="items")
    url = models.URLField(max_length=500, blank=True)
    image_url = models.URLField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["external_id"]

    def __str__(self) -> str:
        return self.title or f"Item {self.external_id}"


class EventType(models.TextChoices):
    APP_OPEN = "app_open", "App opened"
    VIEW = "view", "Viewed item"
    ADD_TO_CART = "addtocart", "Added to cart"
    TRANSACTION = "transaction", "Purchased"


class EventSource(models.TextChoices):
    APP = "app", "Mobile app"
    SERVER = "server", "Business backend"
    IMPORT = "import", "File import"


class Event(models.Model):
    """One thing a customer did. Append-only; the training data of every model."""

    event_id = models.CharField(
        max_length=64,
        unique=True,
        help_text="Client-generated id (a UUID from the app; a content hash for imported rows). "
        "A repeat with the same id is stored once.",
    )
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="events")
    item = models.ForeignKey(Item, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=16, choices=EventType.choices)
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    transaction_id = models.CharField(max_length=64, blank=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=8, choices=EventSource.choices, default=EventSource.APP)
    context = models.JSONField(null=True, blank=True, help_text="Device context reported with the event, if any.")

    class Meta:
        indexes = [
            models.Index(fields=["customer", "occurred_at"], name="event_customer_time"),
            models.Index(fields=["occurred_at"], name="event_time"),
            models.Index(fields=["item", "occurred_at"], name="event_item_time"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.type} {self.item_id or ''} at {self.occurred_at:%Y-%m-%d %H:%M}"

    def clean(self) -> None:
        if self.type == EventType.APP_OPEN and self.item_id is not None:
            raise ValidationError("An app_open event has no item.")
        if self.type != EventType.APP_OPEN and self.item_id is None:
            raise ValidationError(f"A {self.type} event needs an item.")


def score_field(label: str, **options) -> models.PositiveSmallIntegerField:
    return models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(5)],
        help_text=f"{label} score, 1 (worst) to 5 (best).",
        **options,
    )


class Segment(models.Model):
    """One of the RFM segments. A customer is in the first segment, by priority, whose rule fits.

    Scores run 1–5 with 5 the best: most recent, most frequent, highest spend.
    """

    name = models.CharField(max_length=60, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    description = models.TextField(blank=True, help_text="Who these customers are, in a sentence.")
    priority = models.PositiveSmallIntegerField(
        unique=True, help_text="Rules are checked from the lowest number up; the first match wins."
    )
    recency_min = score_field("Lowest recency")
    recency_max = score_field("Highest recency")
    frequency_min = score_field("Lowest frequency")
    frequency_max = score_field("Highest frequency")
    monetary_min = score_field("Lowest monetary")
    monetary_max = score_field("Highest monetary")

    class Meta:
        ordering = ["priority"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        for axis in ("recency", "frequency", "monetary"):
            if getattr(self, f"{axis}_min") > getattr(self, f"{axis}_max"):
                raise ValidationError(f"The lowest {axis} score cannot be above the highest.")

    def matches(self, recency: int, frequency: int, monetary: int) -> bool:
        return (
            self.recency_min <= recency <= self.recency_max
            and self.frequency_min <= frequency <= self.frequency_max
            and self.monetary_min <= monetary <= self.monetary_max
        )

    @property
    def rule(self) -> str:
        return (
            f"R {self.recency_min}–{self.recency_max}, F {self.frequency_min}–{self.frequency_max}, "
            f"M {self.monetary_min}–{self.monetary_max}"
        )


class ModelVersion(models.Model):
    """One training run and the models it produced, with their validation metrics."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    data_since = models.DateTimeField(null=True, blank=True, help_text="Events before this were ignored.")
    data_until = models.DateTimeField(help_text="The clock of the run: events up to here were used.")
    n_customers = models.PositiveIntegerField(default=0)
    n_items = models.PositiveIntegerField(default=0)
    n_events = models.PositiveIntegerField(default=0)
    params = models.JSONField(default=dict, blank=True, help_text="Hyper-parameters chosen on validation.")
    metrics = models.JSONField(default=dict, blank=True, help_text="Validation metrics of every model.")
    artifact = models.CharField(max_length=500, blank=True, help_text="File holding the fitted models.")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        get_latest_by = "started_at"
        indexes = [models.Index(fields=["status", "started_at"], name="modelversion_status_time")]

    def __str__(self) -> str:
        return f"Model {self.pk} ({self.status}, {self.started_at:%Y-%m-%d %H:%M})"


class ModelErasure(models.Model):
    """A customer erased whose rows the saved model files may still hold, until the next clean-up
    (the `recommender.forget_erased` task, queued by the erasure, and the end of every training run)
    rewrites those files without them. Only the internal number is kept, which names no one once the
    customer row is gone."""

    customer_pk = models.PositiveBigIntegerField(unique=True)
    erased_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Erased customer #{self.customer_pk}"


class CustomerProfile(models.Model):
    """What the latest model run concluded about one customer."""

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="profile")
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL)
    recency_days = models.FloatField(null=True, blank=True, help_text="Days since the last purchase (or activity).")
    frequency = models.PositiveIntegerField(default=0, help_text="Purchases (or sessions for non-buyers).")
    monetary = models.DecimalField(max_digits=14, decimal_places=2, default=0, help_text="Total spend.")
    # Empty for a customer with no events yet: there is nothing to score.
    recency_score = score_field("Recency", null=True, blank=True)
    frequency_score = score_field("Frequency", null=True, blank=True)
    monetary_score = score_field("Monetary", null=True, blank=True)
    segment = models.ForeignKey(Segment, null=True, blank=True, on_delete=models.SET_NULL, related_name="profiles")
    previous_segment = models.ForeignKey(
        Segment,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Segment at the run before, to show movement between segments.",
    )
    top_items = models.JSONField(
        default=list, blank=True, help_text="Best items, best first: [{item_id, score, reason}]."
    )
    best_hours = models.JSONField(
        default=list, blank=True, help_text="Best local hours of the week (0 = Monday 00:00), best first."
    )
    predicted_open_rate = models.FloatField(null=True, blank=True)
    explanation = models.JSONField(default=dict, blank=True)
    computed_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["segment"], name="profile_segment")]

    def __str__(self) -> str:
        return f"Profile of {self.customer}"

    @property
    def rfm(self) -> str:
        if self.recency_score is None:
            return "–"
        return f"{self.recency_score}{self.frequency_score}{self.monetary_score}"
