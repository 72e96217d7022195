"""media items embedded in posts: platform, media URL and parent content (issue 6)

Also the per-content caption state (validators and last outcome of each caption URL) and the sites'
transcript locations.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 19:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('contents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('media_url', sa.String(length=2083), nullable=True))
        batch_op.add_column(sa.Column('media_platform', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('parent_content_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('caption_state', sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f('ix_contents_parent_content_id'), ['parent_content_id'], unique=False)
        batch_op.create_foreign_key('fk_contents_parent_content_id_contents', 'contents',
                                    ['parent_content_id'], ['id'], ondelete='SET NULL')
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.add_column(sa.Column('transcripts', sa.JSON(), nullable=False, server_default=sa.text("'[]'")))


def downgrade() -> None:
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.drop_column('transcripts')
    with op.batch_alter_table('contents', schema=None) as batch_op:
        batch_op.drop_constraint('fk_contents_parent_content_id_contents', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_contents_parent_content_id'))
        batch_op.drop_column('caption_state')
        batch_op.drop_column('parent_content_id')
        batch_op.drop_column('media_platform')
        batch_op.drop_column('media_url')
