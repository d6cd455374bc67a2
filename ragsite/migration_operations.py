"""Migration operations Django 5.2 lacks."""

from __future__ import annotations

from typing import Any

from django.db.migrations.operations.base import Operation

_ACTIONS = {"CASCADE", "SET NULL", "NO ACTION"}


class SetDatabaseOnDelete(Operation):
    """Give a foreign key an ON DELETE action enforced by PostgreSQL itself.

    Django 5.2 implements on_delete in Python (collecting rows, then deleting them in loops); declaring the field
    DO_NOTHING and the constraint ON DELETE CASCADE makes one DELETE remove a vault and everything under it, and
    keeps concurrent deletes and inserts consistent.
    """

    reversible = True
    reduces_to_sql = True

    def __init__(self, model_name: str, field_name: str, on_delete: str) -> None:
        if on_delete not in _ACTIONS:
            raise ValueError(f"on_delete must be one of {sorted(_ACTIONS)}")
        self.model_name = model_name
        self.field_name = field_name
        self.on_delete = on_delete

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return self.__class__.__name__, [self.model_name, self.field_name, self.on_delete], {}

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass  # the model state is unchanged: only the constraint in the database differs

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        self._recreate(schema_editor, to_state.apps.get_model(app_label, self.model_name), self.on_delete)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        self._recreate(schema_editor, to_state.apps.get_model(app_label, self.model_name), "NO ACTION")

    def _recreate(self, schema_editor: Any, model: Any, action: str) -> None:
        # Django creates foreign keys at the end of a migration (deferred SQL); run them now so ours exists.
        for statement in schema_editor.deferred_sql:
            schema_editor.execute(statement)
        schema_editor.deferred_sql.clear()
        field = model._meta.get_field(self.field_name)
        quote = schema_editor.quote_name
        table = model._meta.db_table
        names = schema_editor._constraint_names(model, [field.column], foreign_key=True)
        if len(names) != 1:
            raise ValueError(f"expected one foreign key on {table}.{field.column}, found {names}")
        (name,) = names
        target = field.target_field
        schema_editor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}")
        schema_editor.execute(
            f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} FOREIGN KEY ({quote(field.column)}) "
            f"REFERENCES {quote(target.model._meta.db_table)} ({quote(target.column)}) "
            f"ON DELETE {action} DEFERRABLE INITIALLY DEFERRED"
        )

    def describe(self) -> str:
        return f"Set ON DELETE {self.on_delete} on {self.model_name}.{self.field_name} in the database"

    @property
    def migration_name_fragment(self) -> str:
        return f"{self.model_name.lower()}_{self.field_name}_on_delete"
