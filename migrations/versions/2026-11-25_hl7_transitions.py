"""HL7 v2 feed: routes, raw message store, identifier cross-references, visits (transitions of care)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 03:05:17.665235
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import careloop.db

revision: str = '0003'
down_revision: str | Sequence[str] | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('hl7_route',
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('receiving_facility', sa.String(length=200), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', careloop.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', careloop.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_hl7_route_organization_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hl7_route')),
    sa.UniqueConstraint('receiving_facility', name=op.f('uq_hl7_route_receiving_facility'))
    )
    with op.batch_alter_table('hl7_route', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hl7_route_organization_id'), ['organization_id'], unique=False)

    op.create_table('hl7_patient_identifier',
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('authority', sa.String(length=200), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('demographics_at', careloop.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', careloop.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_hl7_patient_identifier_organization_id_organization')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_hl7_patient_identifier_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hl7_patient_identifier')),
    sa.UniqueConstraint('organization_id', 'authority', 'value', name=op.f('uq_hl7_patient_identifier_organization_id_authority_value'))
    )
    with op.batch_alter_table('hl7_patient_identifier', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hl7_patient_identifier_patient_id'), ['patient_id'], unique=False)

    op.create_table('hl7_message',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=True),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('source_address', sa.String(length=64), nullable=True),
    sa.Column('raw', sa.Text(), nullable=False),
    sa.Column('sending_application', sa.String(length=200), nullable=True),
    sa.Column('sending_facility', sa.String(length=200), nullable=True),
    sa.Column('receiving_application', sa.String(length=200), nullable=True),
    sa.Column('receiving_facility', sa.String(length=200), nullable=True),
    sa.Column('control_id', sa.String(length=200), nullable=True),
    sa.Column('dedupe_key', sa.String(length=410), nullable=True),
    sa.Column('duplicate_of_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('message_type', sa.String(length=10), nullable=True),
    sa.Column('trigger_event', sa.String(length=10), nullable=True),
    sa.Column('hl7_version', sa.String(length=10), nullable=True),
    sa.Column('event_at', careloop.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('received_at', careloop.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('processed_at', careloop.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status', sa.Enum('received', 'applied', 'duplicate', 'needs_review', 'error', 'rejected', 'dismissed', name='messagestatus', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('ack_code', sa.String(length=2), nullable=True),
    sa.Column('error_text', sa.String(length=500), nullable=True),
    sa.Column('note', sa.String(length=300), nullable=True),
    sa.Column('patient_identifier', sa.String(length=410), nullable=True),
    sa.Column('patient_id', sa.Uuid(), nullable=True),
    sa.Column('encounter_id', sa.Uuid(), nullable=True),
    sa.Column('resolved_at', careloop.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_by_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['encounter_id'], ['encounter.id'], name=op.f('fk_hl7_message_encounter_id_encounter')),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_hl7_message_organization_id_organization')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_hl7_message_patient_id_patient')),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['staff.id'], name=op.f('fk_hl7_message_resolved_by_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hl7_message')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_hl7_message_dedupe_key'))
    )
    with op.batch_alter_table('hl7_message', schema=None) as batch_op:
        batch_op.create_index('ix_hl7_message_identifier', ['organization_id', 'patient_identifier', 'status'], unique=False)
        batch_op.create_index('ix_hl7_message_org_status', ['organization_id', 'status', 'id'], unique=False)
        batch_op.create_index('ix_hl7_message_patient', ['patient_id'], unique=False)
        batch_op.create_index('ix_hl7_message_status', ['status', 'id'], unique=False)

    op.create_table('hl7_visit',
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('visit_key', sa.String(length=420), nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('encounter_id', sa.Uuid(), nullable=False),
    sa.Column('last_event_at', careloop.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('readmission_rule', sa.String(length=120), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', careloop.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', careloop.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['encounter_id'], ['encounter.id'], name=op.f('fk_hl7_visit_encounter_id_encounter')),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_hl7_visit_organization_id_organization')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_hl7_visit_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hl7_visit')),
    sa.UniqueConstraint('encounter_id', name=op.f('uq_hl7_visit_encounter_id')),
    sa.UniqueConstraint('organization_id', 'visit_key', name=op.f('uq_hl7_visit_organization_id_visit_key'))
    )
    with op.batch_alter_table('hl7_visit', schema=None) as batch_op:
        batch_op.create_index('ix_hl7_visit_patient', ['patient_id', 'last_event_at'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('hl7_visit', schema=None) as batch_op:
        batch_op.drop_index('ix_hl7_visit_patient')

    op.drop_table('hl7_visit')
    with op.batch_alter_table('hl7_message', schema=None) as batch_op:
        batch_op.drop_index('ix_hl7_message_status')
        batch_op.drop_index('ix_hl7_message_patient')
        batch_op.drop_index('ix_hl7_message_org_status')
        batch_op.drop_index('ix_hl7_message_identifier')

    op.drop_table('hl7_message')
    with op.batch_alter_table('hl7_patient_identifier', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hl7_patient_identifier_patient_id'))

    op.drop_table('hl7_patient_identifier')
    with op.batch_alter_table('hl7_route', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hl7_route_organization_id'))

    op.drop_table('hl7_route')

