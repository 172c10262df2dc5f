"""The semantic cache's tables: answers by scope and question, and each assistant's cache policy."""

from __future__ import annotations

from django.db import models
from pgvector.django import HnswIndex, VectorField

from gateway.embeddings import DIMENSIONS


class CachePolicy(models.Model):
    """How an assistant's answers are cached. An assistant without a row gets the defaults."""

    template = models.OneToOneField(
        "prompts_admin.PromptTemplate", on_delete=models.CASCADE, related_name="cache_policy"
    )
    enabled = models.BooleanField(default=True, help_text="Serve and store cached answers.")
    personal = models.BooleanField(
        default=False,
        help_text="Answers depend on who asks: each user gets only answers cached for them.",
    )
    ttl_seconds = models.PositiveIntegerField(
        default=24 * 3600, help_text="How long a cached answer is served."
    )
    max_entries = models.PositiveIntegerField(
        default=10_000, help_text="Least recently used answers beyond this are evicted."
    )

    class Meta:
        verbose_name_plural = "cache policies"

    def __str__(self) -> str:
        return f"cache policy of {self.template}"


class CacheEntry(models.Model):
    """One cached answer. `scope` hashes everything that changes the answer except the question."""

    scope = models.CharField(max_length=64)
    template_id = models.BigIntegerField(db_index=True)  # plain id: invalidation, no cascade
    knowledge_revision = models.BigIntegerField(default=0)
    query = models.TextField(help_text="The question as asked (verification reads its capitals).")
    query_hash = models.CharField(max_length=64)
    answer = models.TextField()
    embedding = VectorField(dimensions=DIMENSIONS)
    embedder = models.CharField(max_length=100)
    model = models.CharField(max_length=100, help_text="The model that wrote the answer.")
    simulated = models.BooleanField(default=False)
    hits = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "cache entries"
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "query_hash"], name="cache_one_answer_per_query"
            )
        ]
        indexes = [
            HnswIndex(
                name="cache_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            models.Index(fields=["expires_at"], name="cache_expires"),
            # No index on `hits` or `last_used_at`: a hit's UPDATE then touches no indexed
            # column and stays a HOT update (the table keeps free room per page, migration
            # 0006). Indexed, every hit re-inserted the row into every index, the HNSW graph
            # included. Beat's LRU eviction sorts one template's rows instead.
        ]

    def __str__(self) -> str:
        return self.query[:60]
