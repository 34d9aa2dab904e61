"""Alembic, driven from code: ``rathaus db upgrade`` and the test suite use the same entry point."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from council.core.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(settings: Settings) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", str(MIGRATIONS_DIR / "versions"))
    cfg.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    cfg.attributes["database_url"] = settings.resolved_database_url
    return cfg


def upgrade(settings: Settings, revision: str = "head") -> None:
    if settings.is_sqlite:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings), revision)


def downgrade(settings: Settings, revision: str) -> None:
    command.downgrade(alembic_config(settings), revision)


#: Full-text objects the search room creates with raw DDL (``council.search.models.install_ddl``):
#: autogenerate must neither drop nor recreate them.
RAW_DDL_TABLE_PREFIXES = ("search_fts",)
RAW_DDL_COLUMNS = {("search_document", "tsv")}
RAW_DDL_INDEXES = {"ix_search_document_tsv"}


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    if type_ == "table" and name and name.startswith(RAW_DDL_TABLE_PREFIXES):
        return False
    if type_ == "column" and reflected and compare_to is None:
        table = getattr(getattr(obj, "table", None), "name", None)
        if (table, name) in RAW_DDL_COLUMNS:
            return False
    return not (type_ == "index" and name in RAW_DDL_INDEXES)
