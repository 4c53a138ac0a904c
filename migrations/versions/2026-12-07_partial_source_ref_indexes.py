"""partial source_ref indexes: records that came from no file stay out of them

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 15:55:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | Sequence[str] | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("patient", "condition", "encounter", "observation", "allergy", "medication", "procedure", "immunization",
          "outside_care_plan", "outside_care_team")
IMPORTED = sa.text("source_ref IS NOT NULL")


def upgrade() -> None:
    for table in TABLES:
        op.drop_index(f"uq_{table}_source_ref", table_name=table)
        op.create_index(f"uq_{table}_source_ref", table, ["organization_id", "source_ref"], unique=True,
                        sqlite_where=IMPORTED, postgresql_where=IMPORTED)


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"uq_{table}_source_ref", table_name=table)
        op.create_index(f"uq_{table}_source_ref", table, ["organization_id", "source_ref"], unique=True)
