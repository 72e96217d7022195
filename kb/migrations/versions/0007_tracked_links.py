"""tracked links for prospects and their visits (issue 7)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 19:00:00
"""

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # placeholder in the chain; filled in by the change that needs it


def downgrade() -> None:
    pass
