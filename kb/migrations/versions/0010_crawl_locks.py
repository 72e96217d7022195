"""crawl locks and schedules (issue 8)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 19:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One lease row per site being crawled (kb.crawl_locks): the primary key makes claiming it atomic on
    # SQLite and PostgreSQL alike; heartbeat_at lets the next crawl take over from a holder that died.
    op.create_table('crawl_locks',
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('holder', sa.String(length=200), nullable=False),
    sa.Column('acquired_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('site_id')
    )


def downgrade() -> None:
    op.drop_table('crawl_locks')
