"""SchemaReview: inferred against curated schema every run (component, executor, proposals and diffs in proposals.py)."""
from pipeline.components.schema_review.component import (SchemaProposals, SchemaReviewSpec, SchemaReview)
from pipeline.components.schema_review.executor import (CURATED_KEY, INFERRED_KEY, REVIEW_KEY, PROPOSALS_FILE, NUM_PROPOSALS_PROPERTY, review, SchemaReviewExecutor)

__all__ = ['SchemaProposals', 'SchemaReviewSpec', 'SchemaReview', 'CURATED_KEY', 'INFERRED_KEY', 'REVIEW_KEY', 'PROPOSALS_FILE', 'NUM_PROPOSALS_PROPERTY', 'review', 'SchemaReviewExecutor']
