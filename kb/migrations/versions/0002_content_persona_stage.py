"""content persona and flywheel stage, for search filters and coverage

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contents") as batch:
        batch.add_column(sa.Column("persona", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("stage", sa.String(length=20), nullable=True))
        batch.create_index("ix_contents_persona", ["persona"])
        batch.create_index("ix_contents_stage", ["stage"])


def downgrade() -> None:
    with op.batch_alter_table("contents") as batch:
        batch.drop_index("ix_contents_stage")
        batch.drop_index("ix_contents_persona")
        batch.drop_column("stage")
        batch.drop_column("persona")
