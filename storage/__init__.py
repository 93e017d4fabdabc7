"""Persistence for Qingdan: SQLModel tables, the async engine (SQLite by default,
PostgreSQL in production), repositories, the SQL-backed FSM storage and the
Alembic migrations. Imports surveys/, never bot/."""
