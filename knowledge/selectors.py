"""Reads of the knowledge base: its revision, retrieval policies and the hybrid passage search."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction

from knowledge.models import SEARCH_CONFIG, KnowledgeRevision, RetrievalPolicy

# Reciprocal rank fusion: score = sum over rankings of 1 / (RRF_K + rank). 60 is the constant
# of the original paper (Cormack et al. 2009) and keeps one list's top hit from dominating.
RRF_K = 60


@dataclass(frozen=True)
class Passage:
    chunk_id: int
    document_id: int
    document_title: str
    ordinal: int
    text: str
    score: float


def knowledge_revision() -> int:
    """Changes whenever a document is added, replaced or deleted (cache keys include it)."""
    row = KnowledgeRevision.objects.filter(pk=1).values_list("value", flat=True).first()
    return row or 0


def retrieval_top_k(template_id: int) -> int:
    """How many passages the assistant gets; 0 when retrieval is off (the default)."""
    policy = RetrievalPolicy.objects.filter(template_id=template_id).first()
    return policy.top_k if policy and policy.enabled else 0


# Candidates from each ranking: vector (cosine, HNSW) and full text (OR of the query's lexemes,
# ranked by ts_rank over log length, so long passages don't win by size). Only vectors of the
# current embedder are comparable with the query.
_SEARCH_SQL = f"""
WITH vector AS (
    SELECT id, row_number() OVER (ORDER BY embedding <=> %(vector)s::vector) AS rank
    FROM knowledge_chunk
    WHERE embedder = %(embedder)s
    ORDER BY embedding <=> %(vector)s::vector
    LIMIT %(candidates)s
), query AS (
    SELECT nullif(replace(plainto_tsquery('{SEARCH_CONFIG}', %(text)s)::text, '&', '|'), '')
        ::tsquery AS q
), fulltext AS (
    SELECT c.id, row_number() OVER (ORDER BY ts_rank(c.search_vector, query.q, 1) DESC, c.id)
        AS rank
    FROM knowledge_chunk c, query
    WHERE query.q IS NOT NULL AND c.search_vector @@ query.q
    ORDER BY ts_rank(c.search_vector, query.q, 1) DESC, c.id
    LIMIT %(candidates)s
), fused AS (
    SELECT id, sum(1.0 / ({RRF_K} + rank)) AS score
    FROM (SELECT * FROM vector UNION ALL SELECT * FROM fulltext) ranked
    GROUP BY id
)
SELECT c.id, c.document_id, d.title, c.ordinal, c.text, fused.score
FROM fused
JOIN knowledge_chunk c ON c.id = fused.id
JOIN knowledge_document d ON d.id = c.document_id
ORDER BY fused.score DESC, c.id
LIMIT %(top_k)s
"""


def search_passages(
    text: str,
    vector: list[float],
    *,
    embedder: str,
    top_k: int,
    timeout_ms: int,
    mode: str = "hybrid",
) -> list[Passage]:
    """The top_k passages for a question, vector and full-text rankings fused by RRF.

    `mode` "vector" or "fulltext" uses one ranking alone (bench/retrieval compares them).
    """
    params = {
        "vector": str(vector) if mode != "fulltext" else str([0.0] * len(vector)),
        "embedder": embedder if mode != "fulltext" else "",
        "text": text if mode != "vector" else "",
        "candidates": max(20, 4 * top_k),
        "top_k": top_k,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        # Bounded in the database too: a locked or overloaded table must not hold the thread.
        cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(timeout_ms)])
        # HNSW returns at most ef_search rows (default 40): enough for every candidate asked.
        cursor.execute(
            "SELECT set_config('hnsw.ef_search', %s, true)", [str(max(40, params["candidates"]))]
        )
        cursor.execute(_SEARCH_SQL, params)
        rows = cursor.fetchall()
    return [Passage(*row[:5], float(row[5])) for row in rows]
