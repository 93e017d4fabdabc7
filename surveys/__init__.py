"""The Qingdan domain in pure Python: duty lists, import and lint, questionnaires,
the answer-flow engine, digests and reports. Imports neither aiogram nor SQLAlchemy."""
