"""media items embedded in posts: platform, media URL and parent content (issue 6)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 19:00:00
"""

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # placeholder in the chain; filled in by the change that needs it


def downgrade() -> None:
    pass
