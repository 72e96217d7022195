"""crawl locks and schedules (issue 8)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 19:00:00
"""

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # placeholder in the chain; filled in by the change that needs it


def downgrade() -> None:
    pass
