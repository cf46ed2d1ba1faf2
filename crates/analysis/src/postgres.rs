//! The PostgreSQL front end: PostgreSQL's own grammar (libpg_query, through `pg_query`) turned
//! into [`Effect`]s. No `pg_query` type leaves this module.

use pg_query::protobuf::{AlterTableType, ConstrType, ObjectType};
use pg_query::{NodeEnum, NodeRef};

use crate::{Action, AlterCommand, ColumnInfo, DefaultValue, Effect, LockMode};

/// Functions whose value differs per row: a column default calling one rewrites the table.
const VOLATILE_FUNCTIONS: [&str; 9] = [
    "random",
    "random_normal",
    "gen_random_uuid",
    "uuid_generate_v1",
    "uuid_generate_v1mc",
    "uuid_generate_v4",
    "clock_timestamp",
    "timeofday",
    "nextval",
];

/// Why a statement could not be parsed: PostgreSQL's message and the 1-based character offset
/// within the statement, when it gives one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// PostgreSQL's message.
    pub message: String,
    /// 1-based character offset in the statement.
    pub position: Option<usize>,
}

/// The effect of one statement, or why it does not parse.
pub fn analyze_statement(sql: &str) -> Result<Effect, ParseError> {
    let parsed = pg_query::parse(sql, pg_query::ParserOptions::default()).map_err(|err| {
        let message = err.to_string();
        ParseError { message: message.trim_start_matches("Invalid statement: ").to_string(), position: None }
    })?;
    let node = parsed.protobuf.stmts.first().and_then(|raw| raw.stmt.as_ref()).and_then(|stmt| stmt.node.as_ref());
    let mut effect = match node {
        Some(node) => effect_of(node),
        None => other(),
    };
    let (long, literals) = scan_words(sql);
    effect.long_identifiers = long;
    effect.string_literals = literals;
    Ok(effect)
}

fn other() -> Effect {
    Effect {
        action: Action::Other,
        locks: Vec::new(),
        rewrites: false,
        scans: false,
        destructive: false,
        backward_incompatible: false,
        requires_no_transaction: false,
        long_identifiers: Vec::new(),
        string_literals: Vec::new(),
    }
}

/// Identifiers over 63 bytes in `sql` (found lexically: the parser, like PostgreSQL's, has
/// already truncated them in the tree), and the string literals it contains.
fn scan_words(sql: &str) -> (Vec<String>, Vec<String>) {
    let mut found = Vec::new();
    let mut literals = Vec::new();
    let mut chars = sql.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        match c {
            '\'' => {
                // A string literal ('' is an escaped quote).
                let mut literal = String::new();
                while let Some((_, c)) = chars.next() {
                    if c == '\'' && chars.peek().map(|(_, n)| *n) != Some('\'') {
                        break;
                    }
                    if c == '\'' {
                        chars.next();
                    }
                    literal.push(c);
                }
                literals.push(literal);
            }
            '"' => {
                let mut end = start + 1;
                for (idx, c) in chars.by_ref() {
                    end = idx;
                    if c == '"' {
                        break;
                    }
                }
                let name = &sql[start + 1..end.max(start + 1)];
                if name.len() > 63 {
                    found.push(name.to_string());
                }
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut end = start + c.len_utf8();
                while let Some((idx, n)) = chars.peek().copied() {
                    if !(n.is_alphanumeric() || n == '_' || n == '$') {
                        break;
                    }
                    end = idx + n.len_utf8();
                    chars.next();
                }
                if end - start > 63 {
                    found.push(sql[start..end].to_string());
                }
            }
            _ => {}
        }
    }
    (found, literals)
}

fn relation_name(relation: Option<&pg_query::protobuf::RangeVar>) -> String {
    match relation {
        Some(r) if !r.schemaname.is_empty() => format!("{}.{}", r.schemaname, r.relname),
        Some(r) => r.relname.clone(),
        None => String::new(),
    }
}

/// `a.b.c` from a list of `String` nodes (a qualified name).
fn qualified_name(nodes: &[pg_query::protobuf::Node]) -> String {
    let parts: Vec<&str> = nodes
        .iter()
        .filter_map(|n| match n.node.as_ref() {
            Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
            _ => None,
        })
        .collect();
    parts.join(".")
}

fn effect_of(node: &NodeEnum) -> Effect {
    let mut effect = other();
    match node {
        NodeEnum::CreateStmt(stmt) => {
            let table = relation_name(stmt.relation.as_ref());
            let mut columns = Vec::new();
            let mut primary_key = Vec::new();
            let mut constraints: Vec<&pg_query::protobuf::Constraint> = Vec::new();
            for element in &stmt.table_elts {
                match element.node.as_ref() {
                    Some(NodeEnum::ColumnDef(def)) => {
                        let type_name = def.type_name.as_ref().map_or_else(String::new, |t| {
                            qualified_name(&t.names).rsplit('.').next().unwrap_or_default().to_string()
                        });
                        let mut identity = false;
                        for constraint in &def.constraints {
                            if let Some(NodeEnum::Constraint(c)) = constraint.node.as_ref() {
                                if c.contype == ConstrType::ConstrPrimary as i32 {
                                    primary_key.push(def.colname.clone());
                                }
                                identity |= c.contype == ConstrType::ConstrIdentity as i32;
                            }
                        }
                        columns.push(ColumnInfo { name: def.colname.clone(), type_name, identity });
                    }
                    Some(NodeEnum::Constraint(c)) => constraints.push(c),
                    _ => {}
                }
            }
            for c in constraints {
                if c.contype == ConstrType::ConstrPrimary as i32 {
                    primary_key.extend(c.keys.iter().filter_map(|k| match k.node.as_ref() {
                        Some(NodeEnum::String(s)) => Some(s.sval.clone()),
                        _ => None,
                    }));
                }
            }
            effect.action = Action::CreateTable { table, columns, primary_key };
        }
        NodeEnum::UpdateStmt(stmt) => {
            let table = relation_name(stmt.relation.as_ref());
            effect.locks.push((table.clone(), LockMode::RowExclusive));
            effect.action = Action::WriteRows { command: "UPDATE", table, filtered: stmt.where_clause.is_some() };
        }
        NodeEnum::DeleteStmt(stmt) => {
            let table = relation_name(stmt.relation.as_ref());
            effect.locks.push((table.clone(), LockMode::RowExclusive));
            effect.destructive = true;
            effect.action = Action::WriteRows { command: "DELETE", table, filtered: stmt.where_clause.is_some() };
        }
        NodeEnum::IndexStmt(stmt) => {
            let table = relation_name(stmt.relation.as_ref());
            let lock = if stmt.concurrent { LockMode::ShareUpdateExclusive } else { LockMode::Share };
            effect.locks.push((table.clone(), lock));
            effect.scans = true;
            effect.requires_no_transaction = stmt.concurrent;
            effect.action = Action::CreateIndex { table, concurrently: stmt.concurrent };
        }
        NodeEnum::DropStmt(stmt) => {
            let names: Vec<String> = stmt
                .objects
                .iter()
                .map(|object| match object.node.as_ref() {
                    Some(NodeEnum::List(list)) => qualified_name(&list.items),
                    Some(NodeEnum::String(s)) => s.sval.clone(),
                    _ => String::new(),
                })
                .collect();
            match ObjectType::try_from(stmt.remove_type) {
                Ok(ObjectType::ObjectTable) => {
                    effect.locks = names.iter().map(|n| (n.clone(), LockMode::AccessExclusive)).collect();
                    effect.destructive = true;
                    effect.backward_incompatible = true;
                    effect.action = Action::DropTable { tables: names };
                }
                Ok(ObjectType::ObjectIndex) => {
                    let lock = if stmt.concurrent { LockMode::ShareUpdateExclusive } else { LockMode::AccessExclusive };
                    // The lock is on the index's table, which the statement does not name.
                    effect.locks = names.iter().map(|n| (n.clone(), lock)).collect();
                    effect.requires_no_transaction = stmt.concurrent;
                    effect.action = Action::DropIndex { concurrently: stmt.concurrent };
                }
                _ => {}
            }
        }
        NodeEnum::RenameStmt(stmt) => {
            let object = match ObjectType::try_from(stmt.rename_type) {
                Ok(ObjectType::ObjectTable) => "table",
                Ok(ObjectType::ObjectColumn) => "column",
                Ok(ObjectType::ObjectSchema) => "schema",
                Ok(ObjectType::ObjectView) => "view",
                _ => return effect,
            };
            let table = relation_name(stmt.relation.as_ref());
            let name = match object {
                "column" => format!("{table}.{}", stmt.subname),
                "schema" => stmt.subname.clone(),
                _ => table.clone(),
            };
            if !table.is_empty() {
                effect.locks.push((table, LockMode::AccessExclusive));
            }
            effect.backward_incompatible = true;
            effect.action = Action::Rename { object, name };
        }
        NodeEnum::TruncateStmt(stmt) => {
            let tables: Vec<String> = stmt
                .relations
                .iter()
                .filter_map(|r| match r.node.as_ref() {
                    Some(NodeEnum::RangeVar(range)) => Some(relation_name(Some(range))),
                    _ => None,
                })
                .collect();
            effect.locks = tables.iter().map(|t| (t.clone(), LockMode::AccessExclusive)).collect();
            effect.destructive = true;
            effect.action = Action::Truncate { tables };
        }
        NodeEnum::ReindexStmt(stmt) => {
            let concurrently = has_option(&stmt.params, "concurrently");
            let name = match stmt.relation.as_ref() {
                Some(relation) => relation_name(Some(relation)),
                None => stmt.name.clone(),
            };
            if !concurrently {
                effect.locks.push((name.clone(), LockMode::AccessExclusive));
            }
            effect.requires_no_transaction = concurrently;
            effect.action = Action::Reindex { name, concurrently };
        }
        NodeEnum::VacuumStmt(stmt) if stmt.is_vacuumcmd && has_option(&stmt.options, "full") => {
            let tables: Vec<String> = stmt
                .rels
                .iter()
                .filter_map(|r| match r.node.as_ref() {
                    Some(NodeEnum::VacuumRelation(v)) => Some(relation_name(v.relation.as_ref())),
                    _ => None,
                })
                .collect();
            effect.rewrites = true;
            effect.requires_no_transaction = true;
            effect.locks = tables.iter().map(|t| (t.clone(), LockMode::AccessExclusive)).collect();
            effect.action = Action::RewriteTable { command: "VACUUM FULL", table: tables.join(", ") };
        }
        // VACUUM refuses a transaction block; ANALYZE (the same node) does not.
        NodeEnum::VacuumStmt(stmt) => effect.requires_no_transaction = stmt.is_vacuumcmd,
        NodeEnum::ClusterStmt(stmt) => {
            let table = relation_name(stmt.relation.as_ref());
            effect.rewrites = true;
            effect.locks.push((table.clone(), LockMode::AccessExclusive));
            effect.action = Action::RewriteTable { command: "CLUSTER", table };
        }
        NodeEnum::AlterEnumStmt(stmt) if stmt.old_val.is_empty() => {
            effect.action =
                Action::AddEnumValue { type_name: qualified_name(&stmt.type_name), value: stmt.new_val.clone() };
        }
        NodeEnum::AlterTableStmt(stmt) => {
            let table = relation_name(stmt.relation.as_ref());
            let commands: Vec<AlterCommand> = stmt
                .cmds
                .iter()
                .filter_map(|cmd| match cmd.node.as_ref() {
                    Some(NodeEnum::AlterTableCmd(cmd)) => Some(alter_command(cmd)),
                    _ => None,
                })
                .collect();
            for command in &commands {
                match command {
                    AlterCommand::AddColumn { default: Some(DefaultValue::Volatile { .. }), .. } => {
                        effect.rewrites = true
                    }
                    AlterCommand::SetNotNull { .. } => effect.scans = true,
                    AlterCommand::AddConstraint { not_valid: false, kind, .. } if *kind != "NOT NULL" => {
                        effect.scans = true
                    }
                    AlterCommand::Rewrite { .. } => effect.rewrites = true,
                    AlterCommand::AttachPartition { .. } => effect.scans = true,
                    AlterCommand::DetachPartition { concurrently: true, .. } => effect.requires_no_transaction = true,
                    AlterCommand::DropColumn { .. } => {
                        effect.destructive = true;
                        effect.backward_incompatible = true;
                    }
                    _ => {}
                }
            }
            let weakest_enough = if !commands.is_empty()
                && commands.iter().all(|c| matches!(c, AlterCommand::AddConstraint { kind: "FOREIGN KEY", .. }))
            {
                LockMode::ShareRowExclusive
            } else {
                LockMode::AccessExclusive
            };
            effect.locks.push((table.clone(), weakest_enough));
            effect.action = Action::AlterTable { table, commands };
        }
        _ => {}
    }
    effect
}

fn alter_command(cmd: &pg_query::protobuf::AlterTableCmd) -> AlterCommand {
    match AlterTableType::try_from(cmd.subtype) {
        Ok(AlterTableType::AtAddColumn) => {
            let Some(NodeEnum::ColumnDef(def)) = cmd.def.as_ref().and_then(|d| d.node.as_ref()) else {
                return AlterCommand::Other;
            };
            let mut not_null = def.is_not_null;
            let mut default = def.raw_default.as_ref().and_then(|d| d.node.as_ref()).map(default_value);
            for constraint in &def.constraints {
                let Some(NodeEnum::Constraint(c)) = constraint.node.as_ref() else { continue };
                match ConstrType::try_from(c.contype) {
                    Ok(ConstrType::ConstrNotnull) => not_null = true,
                    Ok(ConstrType::ConstrDefault) => {
                        default = c.raw_expr.as_ref().and_then(|e| e.node.as_ref()).map(default_value);
                    }
                    _ => {}
                }
            }
            AlterCommand::AddColumn { column: def.colname.clone(), not_null, default }
        }
        Ok(AlterTableType::AtDropColumn) => AlterCommand::DropColumn { column: cmd.name.clone() },
        Ok(AlterTableType::AtDropNotNull) => AlterCommand::DropNotNull { column: cmd.name.clone() },
        Ok(AlterTableType::AtColumnDefault) if cmd.def.is_none() => {
            AlterCommand::DropDefault { column: cmd.name.clone() }
        }
        Ok(AlterTableType::AtSetNotNull) => AlterCommand::SetNotNull { column: cmd.name.clone() },
        Ok(AlterTableType::AtAddConstraint) => {
            let Some(NodeEnum::Constraint(c)) = cmd.def.as_ref().and_then(|d| d.node.as_ref()) else {
                return AlterCommand::Other;
            };
            let kind = match ConstrType::try_from(c.contype) {
                Ok(ConstrType::ConstrCheck) => "CHECK",
                Ok(ConstrType::ConstrForeign) => "FOREIGN KEY",
                Ok(ConstrType::ConstrUnique) => "UNIQUE",
                Ok(ConstrType::ConstrPrimary) => "PRIMARY KEY",
                Ok(ConstrType::ConstrExclusion) => "EXCLUDE",
                Ok(ConstrType::ConstrNotnull) => "NOT NULL",
                _ => "constraint",
            };
            AlterCommand::AddConstraint {
                kind,
                name: c.conname.clone(),
                not_valid: c.skip_validation,
                using_index: !c.indexname.is_empty(),
            }
        }
        Ok(AlterTableType::AtValidateConstraint) => AlterCommand::ValidateConstraint { name: cmd.name.clone() },
        Ok(AlterTableType::AtSetTableSpace) => AlterCommand::Rewrite { command: "SET TABLESPACE" },
        Ok(AlterTableType::AtSetLogged) => AlterCommand::Rewrite { command: "SET LOGGED" },
        Ok(AlterTableType::AtSetUnLogged) => AlterCommand::Rewrite { command: "SET UNLOGGED" },
        Ok(AlterTableType::AtSetAccessMethod) => AlterCommand::Rewrite { command: "SET ACCESS METHOD" },
        Ok(AlterTableType::AtAttachPartition | AlterTableType::AtDetachPartition) => {
            let Some(NodeEnum::PartitionCmd(partition)) = cmd.def.as_ref().and_then(|d| d.node.as_ref()) else {
                return AlterCommand::Other;
            };
            let name = relation_name(partition.name.as_ref());
            if cmd.subtype == AlterTableType::AtAttachPartition as i32 {
                AlterCommand::AttachPartition { partition: name }
            } else {
                AlterCommand::DetachPartition { partition: name, concurrently: partition.concurrent }
            }
        }
        _ => AlterCommand::Other,
    }
}

/// Whether a list of `DefElem` options holds `name` (`REINDEX (CONCURRENTLY)`, `VACUUM (FULL)`),
/// not switched off with `false`.
fn has_option(options: &[pg_query::protobuf::Node], name: &str) -> bool {
    options.iter().any(|option| match option.node.as_ref() {
        Some(NodeEnum::DefElem(def)) if def.defname == name => match def.arg.as_ref().and_then(|a| a.node.as_ref()) {
            Some(NodeEnum::String(s)) => !matches!(s.sval.as_str(), "false" | "off" | "0"),
            Some(NodeEnum::Boolean(b)) => b.boolval,
            _ => true,
        },
        _ => false,
    })
}

/// Whether a default expression calls a volatile function.
fn default_value(expr: &NodeEnum) -> DefaultValue {
    let volatile = expr.nodes().into_iter().find_map(|(node, ..)| match node {
        NodeRef::FuncCall(call) => {
            let name = qualified_name(&call.funcname);
            let base = name.rsplit('.').next().unwrap_or(&name).to_string();
            VOLATILE_FUNCTIONS.contains(&base.as_str()).then_some(base)
        }
        _ => None,
    });
    match volatile {
        Some(function) => DefaultValue::Volatile { function },
        None => DefaultValue::Constant,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn effect(sql: &str) -> Effect {
        analyze_statement(sql).unwrap()
    }

    #[test]
    fn index_builds() {
        let e = effect("CREATE INDEX i ON users (email)");
        assert_eq!(e.locks, [("users".to_string(), LockMode::Share)]);
        assert!(!e.requires_no_transaction);
        let e = effect("CREATE UNIQUE INDEX CONCURRENTLY i ON app.users (email)");
        assert_eq!(e.action, Action::CreateIndex { table: "app.users".into(), concurrently: true });
        assert_eq!(e.locks[0].1, LockMode::ShareUpdateExclusive);
        assert!(e.requires_no_transaction);
    }

    #[test]
    fn add_column_defaults() {
        let e = effect("ALTER TABLE t ADD COLUMN c uuid NOT NULL DEFAULT gen_random_uuid()");
        assert!(e.rewrites);
        assert_eq!(
            e.action,
            Action::AlterTable {
                table: "t".into(),
                commands: vec![AlterCommand::AddColumn {
                    column: "c".into(),
                    not_null: true,
                    default: Some(DefaultValue::Volatile { function: "gen_random_uuid".into() })
                }]
            }
        );
        let e = effect("ALTER TABLE t ADD COLUMN c timestamptz NOT NULL DEFAULT now()");
        assert!(!e.rewrites, "now() is stable: a fast default");
        assert_eq!(e.locks, [("t".to_string(), LockMode::AccessExclusive)]);
    }

    #[test]
    fn constraints_and_not_null() {
        assert!(effect("ALTER TABLE t ALTER COLUMN c SET NOT NULL").scans);
        assert!(effect("ALTER TABLE t ADD CONSTRAINT c CHECK (x > 0)").scans);
        assert!(!effect("ALTER TABLE t ADD CONSTRAINT c CHECK (x > 0) NOT VALID").scans);
        let fk = effect("ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (u) REFERENCES users (id) NOT VALID");
        assert_eq!(fk.locks, [("t".to_string(), LockMode::ShareRowExclusive)]);
    }

    #[test]
    fn destructive_and_incompatible() {
        let e = effect("DROP TABLE a, s.b");
        assert_eq!(e.action, Action::DropTable { tables: vec!["a".into(), "s.b".into()] });
        assert!(e.destructive && e.backward_incompatible);
        let e = effect("ALTER TABLE users RENAME COLUMN name TO full_name");
        assert_eq!(e.action, Action::Rename { object: "column", name: "users.name".into() });
        assert!(effect("TRUNCATE a").destructive);
        assert!(effect("ALTER TABLE t DROP COLUMN c").destructive);
    }

    #[test]
    fn analyze_may_run_in_a_transaction_but_vacuum_may_not() {
        // Found in hatchet's migrations: ANALYZE is the same node as VACUUM.
        assert!(!effect("ANALYZE v1_runs_olap, v1_tasks_olap").requires_no_transaction);
        assert!(effect("VACUUM v1_runs_olap").requires_no_transaction);
    }

    #[test]
    fn syntax_errors_are_values() {
        let err = analyze_statement("ALTER TABLE t ADD COLUMN").unwrap_err();
        assert!(err.message.contains("syntax error"), "{}", err.message);
    }
}
