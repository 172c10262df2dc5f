from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from pgvector.django import HnswIndex, VectorField

from gateway.embeddings import DIMENSIONS

# Full-text search language of the chunks' `tsvector` and of the queries against it.
SEARCH_CONFIG = "english"


class Kind(models.TextChoices):
    """What a file is, decided from its content (knowledge.sniffing), never from its name."""

    TEXT = "txt", "Plain text"
    MARKDOWN = "md", "Markdown"
    PDF = "pdf", "PDF"
    HTML = "html", "HTML"


class IngestStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be indexed"
    # The task queue refused the ingestion job: nothing will index it until someone re-queues.
    NOT_QUEUED = "not_queued", "Not queued (task queue unavailable)"
    READY = "ready", "Indexed"
    FAILED = "failed", "Failed"


class Document(models.Model):
    """A source document of the knowledge base, stored as extracted text."""

    title = models.CharField(max_length=200)
    source = models.CharField(max_length=300, blank=True, help_text="File name or URL.")
    text = models.TextField(blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.MARKDOWN)
    # The uploaded file, by its random name in KNOWLEDGE_FILES_DIR (never reachable by URL).
    stored_file = models.CharField(max_length=64, blank=True, editable=False)
    size_bytes = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=IngestStatus.choices, default=IngestStatus.PENDING
    )
    error = models.TextField(blank=True, help_text="Why the last upload could not be indexed.")
    ingested_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class Chunk(models.Model):
    """A passage of a document: what retrieval finds and what a citation points at."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    ordinal = models.PositiveIntegerField(help_text="Position in the document, from 1.")
    text = models.TextField()
    embedding = VectorField(dimensions=DIMENSIONS)
    # The embedder that made `embedding`: vectors of another embedder are not comparable.
    embedder = models.CharField(max_length=100)
    search_vector = models.GeneratedField(
        expression=SearchVector("text", config=SEARCH_CONFIG),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["document", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["document", "ordinal"], name="one_chunk_per_ordinal")
        ]
        indexes = [
            HnswIndex(
                name="chunk_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            GinIndex(name="chunk_search_vector_gin", fields=["search_vector"]),
        ]

    def __str__(self) -> str:
        return f"{self.document_id} #{self.ordinal}"


class KnowledgeRevision(models.Model):
    """One row: a counter bumped whenever the indexed knowledge changes (the cache keys on it)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"revision {self.value}"


class RetrievalPolicy(models.Model):
    """Whether an assistant answers from the knowledge base, and with how many passages."""

    template = models.OneToOneField(
        "prompts_admin.PromptTemplate", on_delete=models.CASCADE, related_name="retrieval_policy"
    )
    enabled = models.BooleanField(default=True)
    top_k = models.PositiveSmallIntegerField(
        default=4, validators=[MinValueValidator(1), MaxValueValidator(20)]
    )

    class Meta:
        verbose_name_plural = "retrieval policies"

    def __str__(self) -> str:
        return f"{self.template}: {'on' if self.enabled else 'off'}, top {self.top_k}"
