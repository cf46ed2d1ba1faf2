//! The PostgreSQL front end: PostgreSQL's own grammar (libpg_query, through `pg_query`) turned
//! into [`Effect`]s. No `pg_query` type leaves this module.

use pg_query::protobuf::{AlterTableType, ConstrType, NullTestType, ObjectType, TransactionStmtKind, VariableSetKind};
use pg_query::{NodeEnum, NodeRef};

pub use crate::effect::{ParseError, Resolve};
pub use crate::names::written_name;

use crate::effect::{other, ColumnType, ForeignKey, TransactionControl};
use crate::{Action, AlterCommand, ColumnInfo, DefaultValue, Effect, LockMode, RowAccess, RowScope};

mod plpgsql;
mod rows;

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

/// Functions PostgreSQL ships that a default or a condition commonly calls, none of them
/// volatile: one value for the whole statement.
const KNOWN_STABLE: [&str; 12] = [
    "now",
    "current_timestamp",
    "transaction_timestamp",
    "statement_timestamp",
    "current_date",
    "lower",
    "upper",
    "coalesce",
    "concat",
    "to_jsonb",
    "jsonb_build_object",
    "make_interval",
];

/// Whether the rules need the statement's parse tree: only the statement kinds [`effect_of`]
/// reads do. The others (a view's query, a function body, rows inserted, grants) are checked
/// against the grammar without building the tree, which is most of the parsing time on real
/// migrations.
fn needs_tree(sql: &str) -> bool {
    let words = cutover_migration::leading_keywords(sql, 4);
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["CREATE", "OR", "REPLACE", kind] => matches!(*kind, "TRIGGER" | "CONSTRAINT" | "FUNCTION" | "RULE"),
        ["CREATE", kind, ..] => matches!(
            *kind,
            "TABLE"
                | "FUNCTION"
                | "INDEX"
                | "UNIQUE"
                | "DOMAIN"
                | "TRIGGER"
                | "CONSTRAINT"
                | "POLICY"
                | "RULE"
                | "TEMP"
                | "TEMPORARY"
                | "UNLOGGED"
                | "GLOBAL"
                | "LOCAL"
        ),
        // Rows copied from a query; a data-changing `WITH`, `SELECT ... INTO`, `set_config`.
        ["INSERT", ..] => mentions(sql, &["SELECT", "TABLE"]),
        ["SELECT", ..] => mentions(sql, &["SET_CONFIG", "INTO", "UPDATE", "DELETE", "INSERT", "MERGE"]),
        [first, ..] => matches!(
            *first,
            "ALTER"
                | "DROP"
                | "UPDATE"
                | "DELETE"
                | "MERGE"
                | "WITH"
                | "TRUNCATE"
                | "LOCK"
                | "REINDEX"
                | "VACUUM"
                | "ANALYZE"
                | "ANALYSE"
                | "CLUSTER"
                | "REFRESH"
                | "DO"
                | "CALL"
                | "EXECUTE"
                | "BEGIN"
                | "START"
                | "COMMIT"
                | "END"
                | "ROLLBACK"
                | "ABORT"
                | "SET"
                | "RESET"
        ),
        // Not a statement that starts with a word: let the parser say what it is.
        [] => true,
    }
}

/// Whether `sql` has one of `words` (upper case) as a word, in any case: a cheap look before
/// the parse, which may find it was in a string after all.
fn mentions(sql: &str, words: &[&str]) -> bool {
    sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|word| words.iter().any(|w| word.eq_ignore_ascii_case(w)))
}

fn parse_error(err: pg_query::Error) -> ParseError {
    let message = err.to_string();
    ParseError { message: message.trim_start_matches("Invalid statement: ").to_string(), position: None }
}

/// A column type as SQL writes it (`character varying(200)`, `integer[]`, what PostgreSQL's
/// `format_type` prints), as the analysis models the same type written in a migration; `None`
/// when it is no type.
pub fn parse_type(text: &str) -> Option<ColumnType> {
    let parsed = pg_query::parse(&format!("SELECT NULL::{text}"), pg_query::ParserOptions::default()).ok()?;
    let node = parsed.protobuf.stmts.first()?.stmt.as_ref()?.node.as_ref()?;
    let NodeEnum::SelectStmt(select) = node else { return None };
    let target = select.target_list.first()?.node.as_ref()?;
    let NodeEnum::ResTarget(target) = target else { return None };
    match target.val.as_ref()?.node.as_ref()? {
        NodeEnum::TypeCast(cast) if parsed.protobuf.stmts.len() == 1 && select.target_list.len() == 1 => {
            Some(column_type(cast.type_name.as_ref()))
        }
        _ => None,
    }
}

/// Whether `text` is one SQL expression (a default, a CHECK, an `up`): what PostgreSQL says
/// when it is not, or when it would end the statement it is put in and begin another.
pub fn check_expression(text: &str) -> Result<(), String> {
    let parsed = pg_query::parse(&format!("SELECT ({text}\n)"), pg_query::ParserOptions::default())
        .map_err(|err| format!("`{text}` is not one SQL expression: {err}"))?;
    if parsed.protobuf.stmts.len() != 1 {
        return Err(format!("`{text}` is not one SQL expression"));
    }
    // cutover writes an expression inside its own statements, on the same line: a `--`
    // comment at its end would swallow what follows.
    if pg_query::parse(&format!("SELECT ({text})"), pg_query::ParserOptions::default()).is_err() {
        return Err(format!("`{text}` ends in a `--` comment, which would swallow the rest of the statement cutover writes around it: use `/* ... */` or leave it out"));
    }
    Ok(())
}

/// The effect of one statement, or why it does not parse, its relations named as written
/// ([`written_name`]).
pub fn analyze_statement(sql: &str) -> Result<Effect, ParseError> {
    analyze_statement_with(sql, &written_name)
}

/// The effect of one statement, or why it does not parse, its relations named by `resolve`.
pub fn analyze_statement_with(sql: &str, resolve: Resolve<'_>) -> Result<Effect, ParseError> {
    if !needs_tree(sql) {
        let summary = pg_query::summary(sql, pg_query::ParserOptions::default(), -1).map_err(parse_error)?;
        let mut effect = other();
        effect.action = select_calls(sql, &summary).unwrap_or(Action::Other);
        created_view(sql, &summary, resolve, &mut effect);
        effect.long_identifiers = long_identifiers(sql);
        effect.requires_no_transaction = cutover_migration::refuses_transaction(sql).is_some();
        return Ok(effect);
    }
    let parsed = pg_query::parse(sql, pg_query::ParserOptions::default()).map_err(parse_error)?;
    let node = parsed.protobuf.stmts.first().and_then(|raw| raw.stmt.as_ref()).and_then(|stmt| stmt.node.as_ref());
    let mut effect = match node {
        Some(node) => effect_of(node, resolve),
        None => other(),
    };
    if matches!(node, Some(NodeEnum::DoStmt(_))) {
        plpgsql::complete_do_block(sql, &mut effect, resolve);
    }
    if effect.action == Action::Other && matches!(node, Some(NodeEnum::SelectStmt(_))) {
        // A SELECT read for another reason (a `set_config`, say) that turned out a plain one.
        if let Ok(summary) = pg_query::summary(sql, pg_query::ParserOptions::default(), -1) {
            effect.action = select_calls(sql, &summary).unwrap_or(Action::Other);
        }
    }
    effect.long_identifiers = long_identifiers(sql);
    effect.requires_no_transaction = cutover_migration::refuses_transaction(sql).is_some();
    Ok(effect)
}

/// A view's query is checked against the grammar without a tree (views are long and many);
/// the summary of the statement says what it reads. A view of one relation is recorded, so that
/// data changed through it is its table's; a materialized view reads every row of what it
/// selects from, as `CREATE TABLE AS` does.
fn created_view(sql: &str, summary: &pg_query::SummaryResult, resolve: Resolve<'_>, effect: &mut Effect) {
    let words = cutover_migration::leading_keywords(sql, 4);
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let materialized = match words.as_slice() {
        ["CREATE", "VIEW", ..] | ["CREATE", "OR", "REPLACE", "VIEW"] => false,
        ["CREATE", "MATERIALIZED", "VIEW", ..] => true,
        _ => return,
    };
    let name = |table: &pg_query::Table| {
        let schema = (!table.schema_name.is_empty()).then_some(table.schema_name.as_str());
        resolve(schema, &table.table_name)
    };
    let created = summary.tables.iter().find(|t| t.context == pg_query::protobuf::summary_result::Context::Ddl);
    let Some(created) = created.map(name) else { return };
    let mut read: Vec<String> = summary
        .tables
        .iter()
        .filter(|t| t.context == pg_query::protobuf::summary_result::Context::Select)
        .map(name)
        .filter(|t| *t != created)
        .collect();
    read.sort();
    read.dedup();
    if materialized {
        effect.rows = read.into_iter().map(|table| RowAccess { table, write: false, rows: RowScope::All }).collect();
        effect.action = Action::CreateTableAs { table: created, materialized: true };
    } else {
        let base = match read.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        };
        // Replacing a view takes its ACCESS EXCLUSIVE lock: every query reading it waits
        // (tester 17, seen in pg_locks).
        if words.contains(&"REPLACE") {
            effect.locks.push((created.clone(), LockMode::AccessExclusive));
        }
        effect.action = Action::CreateView { view: created, base };
    }
}

/// The volatility a function's options declare (`volatile`, `stable`, `immutable`), if any.
fn volatility(options: &[pg_query::protobuf::Node]) -> Option<String> {
    options.iter().find_map(|o| match o.node.as_ref() {
        Some(NodeEnum::DefElem(def)) if def.defname == "volatility" => {
            match def.arg.as_ref().and_then(|a| a.node.as_ref()) {
                Some(NodeEnum::String(s)) => Some(s.sval.to_ascii_lowercase()),
                _ => None,
            }
        }
        _ => None,
    })
}

/// A top-level `SELECT` that calls functions: [`Action::Select`] with their names (no schema).
fn select_calls(sql: &str, summary: &pg_query::SummaryResult) -> Option<Action> {
    let first = cutover_migration::leading_keywords(sql, 1);
    if first.first().map(String::as_str) != Some("SELECT") {
        return None;
    }
    let mut calls: Vec<String> = summary.functions.iter().map(|f| f.function_name.clone()).collect();
    calls.sort();
    calls.dedup();
    (!calls.is_empty()).then_some(Action::Select { calls })
}

/// The string literals of a statement. Read only when a rule needs them (a new enum value
/// used later in its transaction), not for every statement: most never need them.
pub fn string_literals(sql: &str) -> Vec<String> {
    scan_words(sql, true).1
}

/// Identifiers over 63 bytes in `sql`, as [`scan_words`] finds them, byte by byte: every
/// statement is scanned, and most have none.
fn long_identifiers(sql: &str) -> Vec<String> {
    let bytes = sql.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80;
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => {
                // A string literal ('' is an escaped quote).
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == b'\'' && bytes.get(i + 1) == Some(&b'\'') {
                        i += 2;
                    } else if bytes[i] == b'\'' {
                        break;
                    } else {
                        i += 1;
                    }
                }
                i += 1;
            }
            b'"' => {
                let start = i + 1;
                i = start + bytes[start..].iter().position(|b| *b == b'"').unwrap_or(bytes.len() - start);
                if i - start > 63 {
                    found.push(sql[start..i].to_string());
                }
                i += 1;
            }
            // Non-ASCII bytes are letters' (PostgreSQL takes them for identifier characters).
            b if b.is_ascii_alphabetic() || b == b'_' || b >= 0x80 => {
                let start = i;
                while i < bytes.len() && ident(bytes[i]) {
                    i += 1;
                }
                if i - start > 63 {
                    found.push(sql[start..i].to_string());
                }
            }
            _ => i += 1,
        }
    }
    found
}

/// Identifiers over 63 bytes in `sql` (found lexically: the parser, like PostgreSQL's, has
/// already truncated them in the tree), and the string literals it contains.
fn scan_words(sql: &str, want_literals: bool) -> (Vec<String>, Vec<String>) {
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
                    if want_literals {
                        literal.push(c);
                    }
                }
                if want_literals {
                    literals.push(literal);
                }
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

fn relation_name(relation: Option<&pg_query::protobuf::RangeVar>, resolve: Resolve<'_>) -> String {
    match relation {
        Some(r) => resolve((!r.schemaname.is_empty()).then_some(r.schemaname.as_str()), &r.relname),
        None => String::new(),
    }
}

/// A relation's name from a list of `String` nodes (`[schema,] name`), resolved.
fn listed_relation(nodes: &[pg_query::protobuf::Node], resolve: Resolve<'_>) -> String {
    match string_values(nodes).as_slice() {
        [name] => resolve(None, name),
        [.., schema, name] => resolve(Some(schema), name),
        [] => String::new(),
    }
}

/// `a.b.c` from a list of `String` nodes (a qualified name), without a `public.` prefix.
fn qualified_name(nodes: &[pg_query::protobuf::Node]) -> String {
    let parts: Vec<&str> = string_values(nodes);
    let parts = match parts.as_slice() {
        ["public", rest @ ..] if !rest.is_empty() => rest,
        all => all,
    };
    parts.join(".")
}

/// The `String` values of a node list (column lists, name parts).
fn string_values(nodes: &[pg_query::protobuf::Node]) -> Vec<&str> {
    nodes
        .iter()
        .filter_map(|n| match n.node.as_ref() {
            Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
            _ => None,
        })
        .collect()
}

fn strings(nodes: &[pg_query::protobuf::Node]) -> Vec<String> {
    string_values(nodes).into_iter().map(str::to_string).collect()
}

fn column_type(type_name: Option<&pg_query::protobuf::TypeName>) -> ColumnType {
    let Some(t) = type_name else { return ColumnType::default() };
    let name = string_values(&t.names).last().copied().unwrap_or_default().to_string();
    let modifiers = t
        .typmods
        .iter()
        .filter_map(|m| match m.node.as_ref() {
            Some(NodeEnum::AConst(c)) => match c.val.as_ref() {
                Some(pg_query::protobuf::a_const::Val::Ival(i)) => Some(i64::from(i.ival)),
                _ => None,
            },
            _ => None,
        })
        .collect();
    ColumnType { name, modifiers, array: !t.array_bounds.is_empty() }
}

fn constraints(nodes: &[pg_query::protobuf::Node]) -> impl Iterator<Item = &pg_query::protobuf::Constraint> {
    nodes.iter().filter_map(|n| match n.node.as_ref() {
        Some(NodeEnum::Constraint(c)) => Some(&**c),
        _ => None,
    })
}

fn is(c: &pg_query::protobuf::Constraint, kind: ConstrType) -> bool {
    c.contype == kind as i32
}

/// What gives every existing row its own value when a column is added: such a column rewrites
/// the table.
fn filled_per_row(def: &pg_query::protobuf::ColumnDef, column_type: &ColumnType) -> Option<&'static str> {
    if matches!(column_type.name.as_str(), "serial" | "bigserial" | "smallserial" | "serial2" | "serial4" | "serial8") {
        return Some("serial");
    }
    for c in constraints(&def.constraints) {
        if is(c, ConstrType::ConstrIdentity) {
            return Some("identity");
        }
        // PostgreSQL 18 made VIRTUAL the default; only STORED computes and writes every row.
        if is(c, ConstrType::ConstrGenerated) && c.generated_kind == "s" {
            return Some("stored generated");
        }
    }
    None
}

fn effect_of(node: &NodeEnum, resolve: Resolve<'_>) -> Effect {
    let mut effect = other();
    match node {
        NodeEnum::CreateStmt(stmt) => {
            let table = relation_name(stmt.relation.as_ref(), resolve);
            let mut columns = Vec::new();
            let mut primary_key = Vec::new();
            let mut unique_keys = Vec::new();
            let mut foreign_keys = Vec::new();
            for element in &stmt.table_elts {
                match element.node.as_ref() {
                    Some(NodeEnum::ColumnDef(def)) => {
                        let column_type = column_type(def.type_name.as_ref());
                        let mut identity = false;
                        let mut not_null = false;
                        for c in constraints(&def.constraints) {
                            not_null |= is(c, ConstrType::ConstrNotnull) || is(c, ConstrType::ConstrPrimary);
                            if is(c, ConstrType::ConstrPrimary) {
                                primary_key.push(def.colname.clone());
                            }
                            if is(c, ConstrType::ConstrPrimary) || is(c, ConstrType::ConstrUnique) {
                                unique_keys.push(vec![def.colname.clone()]);
                            }
                            if is(c, ConstrType::ConstrForeign) {
                                foreign_keys.push(foreign_key(&table, c, vec![def.colname.clone()], resolve));
                            }
                            identity |= is(c, ConstrType::ConstrIdentity);
                        }
                        columns.push(ColumnInfo {
                            name: def.colname.clone(),
                            type_name: column_type.name.clone(),
                            column_type,
                            identity,
                            not_null,
                        });
                    }
                    Some(NodeEnum::Constraint(c)) => {
                        if is(c, ConstrType::ConstrPrimary) {
                            primary_key.extend(strings(&c.keys));
                        }
                        if is(c, ConstrType::ConstrPrimary) || is(c, ConstrType::ConstrUnique) {
                            unique_keys.push(strings(&c.keys));
                        }
                        if is(c, ConstrType::ConstrForeign) {
                            foreign_keys.push(foreign_key(&table, c, strings(&c.fk_attrs), resolve));
                        }
                    }
                    _ => {}
                }
            }
            // A foreign key locks the referenced table too (SHARE ROW EXCLUSIVE: writes wait).
            effect.locks = foreign_keys
                .iter()
                .filter(|fk| fk.referenced_table != table)
                .map(|fk| (fk.referenced_table.clone(), LockMode::ShareRowExclusive))
                .collect();
            let partition_of = stmt.partbound.as_ref().and_then(|_| {
                stmt.inh_relations.first().and_then(|n| match n.node.as_ref() {
                    Some(NodeEnum::RangeVar(r)) => Some(relation_name(Some(r), resolve)),
                    _ => None,
                })
            });
            if let Some(parent) = &partition_of {
                effect.locks.push((parent.clone(), LockMode::AccessExclusive));
            }
            effect.idempotent = Some(stmt.if_not_exists);
            effect.action = Action::CreateTable {
                table,
                columns,
                primary_key,
                unique_keys,
                foreign_keys,
                partitioned: stmt.partspec.is_some(),
                partition_key: stmt
                    .partspec
                    .iter()
                    .flat_map(|spec| &spec.part_params)
                    .filter_map(|param| match param.node.as_ref() {
                        Some(NodeEnum::PartitionElem(elem)) if !elem.name.is_empty() => Some(elem.name.clone()),
                        _ => None,
                    })
                    .collect(),
                partition_of,
                storage: Box::default(),
                temporary: stmt.relation.as_ref().is_some_and(|r| r.relpersistence == "t"),
            };
        }
        NodeEnum::CreateTableAsStmt(stmt) if stmt.objtype == ObjectType::ObjectTable as i32 => {
            let table = relation_name(stmt.into.as_ref().and_then(|i| i.rel.as_ref()), resolve);
            effect.idempotent = Some(stmt.if_not_exists);
            if let Some(NodeEnum::SelectStmt(select)) = stmt.query.as_ref().and_then(|q| q.node.as_ref()) {
                effect.rows = rows::query_reads(select, resolve);
            }
            effect.action = Action::CreateTableAs { table, materialized: false };
        }
        // `SELECT ... INTO new_table`: `CREATE TABLE AS` spelled otherwise.
        NodeEnum::SelectStmt(select) if select.into_clause.is_some() => {
            let table = relation_name(select.into_clause.as_ref().and_then(|i| i.rel.as_ref()), resolve);
            effect.rows = rows::query_reads(select, resolve);
            effect.action = Action::CreateTableAs { table, materialized: false };
        }
        NodeEnum::UpdateStmt(_)
        | NodeEnum::DeleteStmt(_)
        | NodeEnum::InsertStmt(_)
        | NodeEnum::MergeStmt(_)
        | NodeEnum::SelectStmt(_) => {
            let work = rows::row_work(node, resolve);
            effect.rows = work.accesses;
            for access in effect.rows.iter().filter(|a| a.write) {
                if !effect.locks.iter().any(|(t, _)| *t == access.table) {
                    effect.locks.push((access.table.clone(), LockMode::RowExclusive));
                }
            }
            if let Some((command, table)) = work.first_write {
                effect.destructive = matches!(node, NodeEnum::DeleteStmt(_));
                effect.action = Action::WriteRows { command, table };
            } else if let NodeEnum::SelectStmt(select) = node {
                if let Some(set) = search_path_set_by(select) {
                    effect.action = set;
                }
            }
        }
        NodeEnum::IndexStmt(stmt) => {
            let table = relation_name(stmt.relation.as_ref(), resolve);
            let lock = if stmt.concurrent { LockMode::ShareUpdateExclusive } else { LockMode::Share };
            effect.locks.push((table.clone(), lock));
            effect.scans = true;
            effect.idempotent = Some(stmt.if_not_exists);
            let columns: Vec<String> = stmt
                .index_params
                .iter()
                .map_while(|p| match p.node.as_ref() {
                    Some(NodeEnum::IndexElem(e)) if !e.name.is_empty() => Some(e.name.clone()),
                    _ => None,
                })
                .collect();
            let columns_len = columns.len();
            // PostgreSQL names an unnamed index `<table>_<columns>_idx`, an expression by its function.
            let name = if stmt.idxname.is_empty() {
                let parts: Vec<String> = stmt
                    .index_params
                    .iter()
                    .filter_map(|p| match p.node.as_ref() {
                        Some(NodeEnum::IndexElem(e)) if !e.name.is_empty() => Some(e.name.clone()),
                        Some(NodeEnum::IndexElem(e)) => Some(match e.expr.as_ref().and_then(|x| x.node.as_ref()) {
                            Some(NodeEnum::FuncCall(call)) => {
                                string_values(&call.funcname).last().copied().unwrap_or("expr").to_string()
                            }
                            _ => "expr".to_string(),
                        }),
                        _ => None,
                    })
                    .collect();
                let base = stmt.relation.as_ref().map_or("", |r| r.relname.as_str());
                format!("{base}_{}_idx", parts.join("_"))
            } else {
                stmt.idxname.clone()
            };
            effect.action = Action::CreateIndex {
                name,
                table,
                columns,
                concurrently: stmt.concurrent,
                only: stmt.relation.as_ref().is_some_and(|r| !r.inh),
                partial: stmt.where_clause.is_some(),
                unique: stmt.unique && columns_len == stmt.index_params.len(),
            };
        }
        NodeEnum::DropStmt(stmt) => {
            let relations = matches!(
                ObjectType::try_from(stmt.remove_type),
                Ok(ObjectType::ObjectTable | ObjectType::ObjectView | ObjectType::ObjectMatview)
            );
            let names: Vec<String> = stmt
                .objects
                .iter()
                .map(|object| match object.node.as_ref() {
                    Some(NodeEnum::List(list)) if relations => listed_relation(&list.items, resolve),
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
                    effect.idempotent = Some(stmt.missing_ok);
                    let cascade = stmt.behavior == pg_query::protobuf::DropBehavior::DropCascade as i32;
                    effect.action = Action::DropTable { tables: names, cascade };
                }
                Ok(ObjectType::ObjectIndex) => {
                    let lock = if stmt.concurrent { LockMode::ShareUpdateExclusive } else { LockMode::AccessExclusive };
                    // The lock is on the index's table, which the statement does not name.
                    effect.locks = names.iter().map(|n| (n.clone(), lock)).collect();
                    effect.idempotent = Some(stmt.missing_ok);
                    effect.action = Action::DropIndex { names, concurrently: stmt.concurrent };
                }
                Ok(ObjectType::ObjectFunction) => {
                    let names = stmt
                        .objects
                        .iter()
                        .filter_map(|o| match o.node.as_ref() {
                            Some(NodeEnum::ObjectWithArgs(f)) => {
                                string_values(&f.objname).last().map(|n| n.to_string())
                            }
                            _ => None,
                        })
                        .collect();
                    effect.idempotent = Some(stmt.missing_ok);
                    let cascade = stmt.behavior == pg_query::protobuf::DropBehavior::DropCascade as i32;
                    effect.action = Action::DropFunction { names, cascade };
                }
                Ok(ObjectType::ObjectView | ObjectType::ObjectMatview) => {
                    effect.locks = names.iter().map(|n| (n.clone(), LockMode::AccessExclusive)).collect();
                    effect.destructive = true;
                    effect.backward_incompatible = true;
                    effect.idempotent = Some(stmt.missing_ok);
                    effect.action = Action::DropView { views: names };
                }
                Ok(ObjectType::ObjectPolicy | ObjectType::ObjectRule) => {
                    // `DROP POLICY p ON t`, `DROP RULE r ON t`: the last part is the policy or
                    // rule; the table is locked ACCESS EXCLUSIVE, as to make one.
                    for object in &stmt.objects {
                        if let Some(NodeEnum::List(list)) = object.node.as_ref() {
                            if let Some((_, table)) = list.items.split_last().filter(|(_, t)| !t.is_empty()) {
                                effect.locks.push((listed_relation(table, resolve), LockMode::AccessExclusive));
                            }
                        }
                    }
                    effect.idempotent = Some(stmt.missing_ok);
                }
                Ok(ObjectType::ObjectTrigger) => {
                    // `DROP TRIGGER name ON table`: the last part is the trigger.
                    let table = names.first().and_then(|n| n.rsplit_once('.')).map_or("", |(t, _)| t).to_string();
                    effect.locks.push((table.clone(), LockMode::AccessExclusive));
                    effect.idempotent = Some(stmt.missing_ok);
                    effect.action = Action::TriggerDdl { command: "DROP TRIGGER", table, function: None };
                }
                _ => {}
            }
        }
        NodeEnum::CreateFunctionStmt(stmt) if !stmt.is_procedure => {
            let name = qualified_name(&stmt.funcname);
            effect.action = Action::CreateFunction {
                name: name.rsplit('.').next().unwrap_or(&name).to_string(),
                volatile: volatility(&stmt.options).is_none_or(|v| v == "volatile"),
            };
        }
        // `ALTER FUNCTION f() VOLATILE` (or STABLE, IMMUTABLE): the function is declared anew.
        NodeEnum::AlterFunctionStmt(stmt)
            if [ObjectType::ObjectFunction as i32, ObjectType::ObjectRoutine as i32].contains(&stmt.objtype) =>
        {
            if let (Some(func), Some(volatility)) = (stmt.func.as_ref(), volatility(&stmt.actions)) {
                let name = qualified_name(&func.objname);
                effect.action = Action::CreateFunction {
                    name: name.rsplit('.').next().unwrap_or(&name).to_string(),
                    volatile: volatility == "volatile",
                };
            }
        }
        // Row-level security policies and rules change how every query of the table is planned:
        // PostgreSQL takes ACCESS EXCLUSIVE to make, change or drop one.
        NodeEnum::CreatePolicyStmt(stmt) => {
            effect.locks.push((relation_name(stmt.table.as_ref(), resolve), LockMode::AccessExclusive));
        }
        NodeEnum::AlterPolicyStmt(stmt) => {
            effect.locks.push((relation_name(stmt.table.as_ref(), resolve), LockMode::AccessExclusive));
        }
        NodeEnum::RuleStmt(stmt) => {
            effect.locks.push((relation_name(stmt.relation.as_ref(), resolve), LockMode::AccessExclusive));
        }
        NodeEnum::CreateTrigStmt(stmt) => {
            let table = relation_name(stmt.relation.as_ref(), resolve);
            effect.locks.push((table.clone(), LockMode::ShareRowExclusive));
            let function = string_values(&stmt.funcname).last().map(|f| f.to_string());
            effect.action = Action::TriggerDdl { command: "CREATE TRIGGER", table, function };
        }
        // A function renamed keeps its volatility under the new name.
        NodeEnum::RenameStmt(stmt)
            if matches!(
                ObjectType::try_from(stmt.rename_type),
                Ok(ObjectType::ObjectFunction | ObjectType::ObjectRoutine)
            ) =>
        {
            if let Some(NodeEnum::ObjectWithArgs(func)) = stmt.object.as_ref().and_then(|o| o.node.as_ref()) {
                let name = qualified_name(&func.objname);
                effect.action = Action::RenameFunction {
                    name: name.rsplit('.').next().unwrap_or(&name).to_string(),
                    new_name: stmt.newname.clone(),
                };
            }
        }
        NodeEnum::RenameStmt(stmt) => {
            let object = match ObjectType::try_from(stmt.rename_type) {
                Ok(ObjectType::ObjectTable) => "table",
                Ok(ObjectType::ObjectColumn) => "column",
                Ok(ObjectType::ObjectSchema) => "schema",
                Ok(ObjectType::ObjectView) => "view",
                Ok(ObjectType::ObjectMatview) => "materialized view",
                _ => return effect,
            };
            let table = relation_name(stmt.relation.as_ref(), resolve);
            let name = match object {
                "column" => format!("{table}.{}", stmt.subname),
                "schema" => stmt.subname.clone(),
                _ => table.clone(),
            };
            if !table.is_empty() {
                effect.locks.push((table.clone(), LockMode::AccessExclusive));
            }
            effect.backward_incompatible = true;
            effect.action = Action::Rename { object, table, name, new_name: stmt.newname.clone() };
        }
        // A table moved to another schema is renamed for every query that names it.
        NodeEnum::AlterObjectSchemaStmt(stmt)
            if ObjectType::try_from(stmt.object_type) == Ok(ObjectType::ObjectTable) =>
        {
            let table = relation_name(stmt.relation.as_ref(), resolve);
            let Some(relation) = stmt.relation.as_ref() else { return effect };
            effect.locks.push((table.clone(), LockMode::AccessExclusive));
            effect.backward_incompatible = true;
            effect.idempotent = Some(stmt.missing_ok);
            let new_name = resolve(Some(stmt.newschema.as_str()), &relation.relname);
            effect.action = Action::Rename { object: "table", name: table.clone(), table, new_name };
        }
        NodeEnum::TruncateStmt(stmt) => {
            let tables: Vec<String> = stmt
                .relations
                .iter()
                .filter_map(|r| match r.node.as_ref() {
                    Some(NodeEnum::RangeVar(range)) => Some(relation_name(Some(range), resolve)),
                    _ => None,
                })
                .collect();
            effect.locks = tables.iter().map(|t| (t.clone(), LockMode::AccessExclusive)).collect();
            effect.destructive = true;
            effect.action = Action::Truncate { tables };
        }
        // `LOCK TABLE a, b IN mode MODE`: what it says (1 = ACCESS SHARE ... 8 = ACCESS EXCLUSIVE,
        // PostgreSQL's lock numbers), so that the runner takes it up front with the others.
        NodeEnum::LockStmt(stmt) => {
            let mode = usize::try_from(stmt.mode - 1).ok().and_then(|i| LockMode::ALL.get(i)).copied();
            let mode = mode.unwrap_or(LockMode::AccessExclusive);
            for relation in &stmt.relations {
                if let Some(NodeEnum::RangeVar(range)) = relation.node.as_ref() {
                    effect.locks.push((relation_name(Some(range), resolve), mode));
                }
            }
        }
        NodeEnum::ReindexStmt(stmt) => {
            let concurrently = has_option(&stmt.params, "concurrently");
            let name = match stmt.relation.as_ref() {
                Some(relation) => relation_name(Some(relation), resolve),
                None => stmt.name.clone(),
            };
            // A table's writes wait (SHARE); the index being rebuilt is ACCESS EXCLUSIVE (reads that
            // use it wait). For `REINDEX INDEX` the schema model adds the table.
            if !concurrently {
                let index = stmt.kind == pg_query::protobuf::ReindexObjectType::ReindexObjectIndex as i32;
                let lock = if index { LockMode::AccessExclusive } else { LockMode::Share };
                effect.locks.push((name.clone(), lock));
            }
            effect.action = Action::Reindex { name, concurrently };
        }
        NodeEnum::VacuumStmt(stmt) if stmt.is_vacuumcmd && has_option(&stmt.options, "full") => {
            let tables: Vec<String> = stmt
                .rels
                .iter()
                .filter_map(|r| match r.node.as_ref() {
                    Some(NodeEnum::VacuumRelation(v)) => Some(relation_name(v.relation.as_ref(), resolve)),
                    _ => None,
                })
                .collect();
            effect.rewrites = true;
            effect.locks = tables.iter().map(|t| (t.clone(), LockMode::AccessExclusive)).collect();
            effect.action = Action::RewriteTable { command: "VACUUM FULL", table: tables.join(", ") };
        }
        NodeEnum::ClusterStmt(stmt) => {
            let table = relation_name(stmt.relation.as_ref(), resolve);
            effect.rewrites = true;
            effect.locks.push((table.clone(), LockMode::AccessExclusive));
            effect.action = Action::RewriteTable { command: "CLUSTER", table };
        }
        NodeEnum::AlterEnumStmt(stmt) if stmt.old_val.is_empty() => {
            let placement = (!stmt.new_val_neighbor.is_empty()).then(|| {
                format!("{} '{}'", if stmt.new_val_is_after { "AFTER" } else { "BEFORE" }, stmt.new_val_neighbor)
            });
            effect.action = Action::AddEnumValue {
                type_name: qualified_name(&stmt.type_name),
                value: stmt.new_val.clone(),
                placement,
            };
        }
        NodeEnum::AlterEnumStmt(stmt) => {
            effect.backward_incompatible = true;
            effect.action = Action::RenameEnumValue {
                type_name: qualified_name(&stmt.type_name),
                old: stmt.old_val.clone(),
                new: stmt.new_val.clone(),
            };
        }
        NodeEnum::CreateDomainStmt(stmt) => {
            effect.action = Action::CreateDomain {
                name: qualified_name(&stmt.domainname),
                constrained: constraints(&stmt.constraints)
                    .any(|c| is(c, ConstrType::ConstrCheck) || is(c, ConstrType::ConstrNotnull)),
            };
        }
        NodeEnum::AlterDomainStmt(stmt) if stmt.subtype == "C" || stmt.subtype == "O" => {
            let not_valid = match stmt.def.as_ref().and_then(|d| d.node.as_ref()) {
                Some(NodeEnum::Constraint(c)) => c.skip_validation,
                _ => false,
            };
            effect.scans = !not_valid;
            effect.action = Action::ConstrainDomain {
                name: qualified_name(&stmt.type_name),
                command: if stmt.subtype == "C" { "ADD CONSTRAINT" } else { "SET NOT NULL" },
                not_valid,
            };
        }
        NodeEnum::RefreshMatViewStmt(stmt) => {
            let name = relation_name(stmt.relation.as_ref(), resolve);
            let lock = if stmt.concurrent { LockMode::Exclusive } else { LockMode::AccessExclusive };
            effect.locks.push((name.clone(), lock));
            // Without CONCURRENTLY the view's contents are rebuilt into a new file (the
            // rehearsal saw its relfilenode change); with it, only the differences are applied.
            effect.rewrites = !stmt.concurrent;
            effect.action = Action::RefreshMaterializedView { name, concurrently: stmt.concurrent };
        }
        NodeEnum::DoStmt(_) => effect.action = Action::Opaque { what: "DO block".into() },
        NodeEnum::CallStmt(_) => effect.action = Action::Opaque { what: "CALL".into() },
        NodeEnum::ExecuteStmt(_) => effect.action = Action::Opaque { what: "EXECUTE".into() },
        NodeEnum::TransactionStmt(stmt) => {
            let control = match TransactionStmtKind::try_from(stmt.kind) {
                Ok(TransactionStmtKind::TransStmtBegin | TransactionStmtKind::TransStmtStart) => {
                    Some(TransactionControl::Begin)
                }
                Ok(TransactionStmtKind::TransStmtCommit) => Some(TransactionControl::Commit),
                Ok(TransactionStmtKind::TransStmtRollback) => Some(TransactionControl::Rollback),
                _ => None,
            };
            if let Some(control) = control {
                effect.action = Action::Transaction(control);
            }
        }
        // `SET search_path FROM CURRENT` (in a function's settings) changes nothing here.
        NodeEnum::VariableSetStmt(stmt)
            if stmt.name.eq_ignore_ascii_case("search_path")
                && matches!(
                    VariableSetKind::try_from(stmt.kind),
                    Ok(VariableSetKind::VarSetValue | VariableSetKind::VarSetDefault | VariableSetKind::VarReset)
                ) =>
        {
            let schemas = match VariableSetKind::try_from(stmt.kind) {
                Ok(VariableSetKind::VarSetValue) => Some(
                    stmt.args
                        .iter()
                        .filter_map(|a| match a.node.as_ref() {
                            Some(NodeEnum::AConst(c)) => match c.val.as_ref() {
                                Some(pg_query::protobuf::a_const::Val::Sval(s)) => Some(s.sval.clone()),
                                _ => None,
                            },
                            _ => None,
                        })
                        // `SET search_path = ''` is the empty list.
                        .filter(|schema| !schema.is_empty())
                        .collect(),
                ),
                _ => None,
            };
            effect.action = Action::SetSearchPath { schemas, local: stmt.is_local };
        }
        NodeEnum::VariableSetStmt(stmt) => {
            let value = match VariableSetKind::try_from(stmt.kind) {
                Ok(VariableSetKind::VarSetValue) => stmt
                    .args
                    .iter()
                    .filter_map(|a| match a.node.as_ref() {
                        Some(NodeEnum::AConst(c)) => match c.val.as_ref() {
                            Some(pg_query::protobuf::a_const::Val::Ival(i)) => Some(i.ival.to_string()),
                            Some(pg_query::protobuf::a_const::Val::Sval(s)) => Some(s.sval.clone()),
                            Some(pg_query::protobuf::a_const::Val::Fval(f)) => Some(f.fval.clone()),
                            _ => None,
                        },
                        _ => None,
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                _ => String::new(),
            };
            let name = match VariableSetKind::try_from(stmt.kind) {
                Ok(VariableSetKind::VarResetAll) => "all".to_string(),
                _ => stmt.name.to_lowercase(),
            };
            effect.action = Action::Set { name, value, local: stmt.is_local };
        }
        NodeEnum::AlterTableStmt(stmt) => {
            let table = relation_name(stmt.relation.as_ref(), resolve);
            let commands: Vec<AlterCommand> = stmt
                .cmds
                .iter()
                .filter_map(|cmd| match cmd.node.as_ref() {
                    Some(NodeEnum::AlterTableCmd(cmd)) => Some(alter_command(&table, cmd, resolve)),
                    _ => None,
                })
                .collect();
            // `ALTER INDEX parent ATTACH PARTITION child`: a catalog change (observed on PostgreSQL
            // 15: SHARE UPDATE EXCLUSIVE on the parent index, ACCESS EXCLUSIVE on the child index,
            // ACCESS SHARE on their tables); the child is built already, nothing is scanned.
            if stmt.objtype == ObjectType::ObjectIndex as i32 {
                let attached: Vec<&String> = commands
                    .iter()
                    .filter_map(|c| match c {
                        AlterCommand::AttachPartition { partition } => Some(partition),
                        _ => None,
                    })
                    .collect();
                if !attached.is_empty() && attached.len() == commands.len() {
                    effect.locks.push((table, LockMode::ShareUpdateExclusive));
                    effect.locks.extend(attached.into_iter().map(|child| (child.clone(), LockMode::AccessExclusive)));
                    return effect;
                }
            }
            let mut guards = Vec::new();
            for cmd in &stmt.cmds {
                if let Some(NodeEnum::AlterTableCmd(cmd)) = cmd.node.as_ref() {
                    if matches!(
                        AlterTableType::try_from(cmd.subtype),
                        Ok(AlterTableType::AtAddColumn | AlterTableType::AtDropColumn)
                    ) {
                        guards.push(cmd.missing_ok);
                    }
                }
            }
            if !guards.is_empty() {
                effect.idempotent = Some(guards.iter().all(|g| *g));
            }
            let mut referenced = Vec::new();
            for command in &commands {
                // Until the schema model says whether a CHECK proves a SET NOT NULL (`refine`).
                effect.scans |= crate::alter::scans_table(command);
                match command {
                    AlterCommand::AddColumn { default: Some(DefaultValue::Volatile { .. }), .. }
                    | AlterCommand::AddColumn { filled_per_row: Some(_), .. } => effect.rewrites = true,
                    AlterCommand::Rewrite { .. } => effect.rewrites = true,
                    AlterCommand::DropColumn { .. } => {
                        effect.destructive = true;
                        effect.backward_incompatible = true;
                    }
                    _ => {}
                }
                match command {
                    AlterCommand::AddConstraint { references: Some(other), .. }
                    | AlterCommand::AddColumn {
                        references: Some(ForeignKey { referenced_table: other, .. }), ..
                    } if *other != table => {
                        referenced.push((other.clone(), LockMode::ShareRowExclusive));
                    }
                    _ => {}
                }
            }
            let weakest_enough = if !commands.is_empty()
                && commands.iter().all(|c| {
                    matches!(c, AlterCommand::AddConstraint { kind: "FOREIGN KEY", .. } | AlterCommand::Trigger { .. })
                }) {
                LockMode::ShareRowExclusive
            } else if !commands.is_empty()
                && commands.iter().all(|c| {
                    // ATTACH PARTITION takes SHARE UPDATE EXCLUSIVE on the parent (PostgreSQL 12+),
                    // and so does DETACH PARTITION CONCURRENTLY (14+).
                    matches!(
                        c,
                        AlterCommand::ValidateConstraint { .. }
                            | AlterCommand::AttachPartition { .. }
                            | AlterCommand::DetachPartition { concurrently: true, .. }
                            | AlterCommand::PlannerSetting { .. }
                    )
                })
            {
                LockMode::ShareUpdateExclusive
            } else {
                LockMode::AccessExclusive
            };
            // The partition attached or detached is locked ACCESS EXCLUSIVE; an attach scans it,
            // so it comes first (the relation the statement works on).
            for command in &commands {
                match command {
                    AlterCommand::AttachPartition { partition } => {
                        effect.locks.push((partition.clone(), LockMode::AccessExclusive))
                    }
                    AlterCommand::DetachPartition { partition, concurrently: false, .. }
                    | AlterCommand::DetachPartition { partition, finalize: true, .. } => {
                        referenced.push((partition.clone(), LockMode::AccessExclusive))
                    }
                    // Concurrently: SHARE UPDATE EXCLUSIVE on the partition too, in both of its
                    // transactions.
                    AlterCommand::DetachPartition { partition, concurrently: true, finalize: false } => {
                        referenced.push((partition.clone(), LockMode::ShareUpdateExclusive))
                    }
                    _ => {}
                }
            }
            effect.locks.push((table.clone(), weakest_enough));
            effect.locks.extend(referenced);
            effect.action = Action::AlterTable { table, commands };
        }
        _ => {}
    }
    effect
}

/// The setting a query sets with `set_config(name, value, is_local)`, if it does (its last such
/// call): the `search_path`, or another (a lock timeout, say) as `SET` would.
fn search_path_set_by(select: &pg_query::protobuf::SelectStmt) -> Option<Action> {
    let mut found = None;
    for target in &select.target_list {
        let Some(NodeEnum::ResTarget(target)) = target.node.as_ref() else { continue };
        let Some(NodeEnum::FuncCall(call)) = target.val.as_ref().and_then(|v| v.node.as_ref()) else { continue };
        if string_values(&call.funcname).last().copied() != Some("set_config") {
            continue;
        }
        let text = |node: Option<&pg_query::protobuf::Node>| -> Option<String> {
            let node = match node?.node.as_ref()? {
                NodeEnum::TypeCast(cast) => cast.arg.as_deref()?.node.as_ref()?,
                other => other,
            };
            match node {
                NodeEnum::AConst(c) => match c.val.as_ref()? {
                    pg_query::protobuf::a_const::Val::Sval(s) => Some(s.sval.clone()),
                    pg_query::protobuf::a_const::Val::Boolval(b) => Some(b.boolval.to_string()),
                    _ => None,
                },
                _ => None,
            }
        };
        let Some(name) = text(call.args.first()) else { continue };
        let local = text(call.args.get(2))
            .is_some_and(|l| matches!(l.to_ascii_lowercase().as_str(), "true" | "t" | "on" | "yes" | "1"));
        if !name.eq_ignore_ascii_case("search_path") {
            // A value cutover cannot read is not taken for one that sets the timeout.
            let value = text(call.args.get(1)).unwrap_or_default();
            found = Some(Action::Set { name: name.to_lowercase(), value, local });
            continue;
        }
        // An expression cutover cannot read leaves the path as it was (`None`: the default).
        let schemas = text(call.args.get(1)).map(|value| search_path_schemas(&value));
        found = Some(Action::SetSearchPath { schemas, local });
    }
    found
}

/// The schemas of a `search_path` value as text (`app, "My Schema", public`): unquoted names
/// folded to lower case, as PostgreSQL reads them.
pub(crate) fn search_path_schemas(value: &str) -> Vec<String> {
    let mut schemas = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = value.chars().peekable();
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                current.push('"');
                chars.next();
            }
            '"' => {
                quoted = !quoted;
                was_quoted = true;
            }
            ',' if !quoted => {
                push_schema(&mut schemas, &current, was_quoted);
                current.clear();
                was_quoted = false;
            }
            c if quoted => current.push(c),
            // Outside quotes, white space only separates.
            c if c.is_whitespace() => {}
            c => current.push(c.to_ascii_lowercase()),
        }
    }
    push_schema(&mut schemas, &current, was_quoted);
    schemas
}

fn push_schema(schemas: &mut Vec<String>, text: &str, quoted: bool) {
    if quoted || !text.is_empty() {
        schemas.push(text.to_string());
    }
}

/// A foreign key of `table` from its constraint node, named as PostgreSQL names it by default.
fn foreign_key(
    table: &str,
    c: &pg_query::protobuf::Constraint,
    columns: Vec<String>,
    resolve: Resolve<'_>,
) -> ForeignKey {
    let name = if c.conname.is_empty() {
        let base = table.rsplit('.').next().unwrap_or(table);
        format!("{base}_{}_fkey", columns.join("_"))
    } else {
        c.conname.clone()
    };
    ForeignKey {
        name,
        columns,
        referenced_table: relation_name(c.pktable.as_ref(), resolve),
        referenced_columns: strings(&c.pk_attrs),
    }
}

fn alter_command(table: &str, cmd: &pg_query::protobuf::AlterTableCmd, resolve: Resolve<'_>) -> AlterCommand {
    match AlterTableType::try_from(cmd.subtype) {
        Ok(AlterTableType::AtAddColumn) => {
            let Some(NodeEnum::ColumnDef(def)) = cmd.def.as_ref().and_then(|d| d.node.as_ref()) else {
                return AlterCommand::Other;
            };
            let column_type = column_type(def.type_name.as_ref());
            let mut not_null = def.is_not_null;
            let mut default = def.raw_default.as_ref().and_then(|d| d.node.as_ref()).map(default_value);
            let mut references = None;
            for c in constraints(&def.constraints) {
                match ConstrType::try_from(c.contype) {
                    Ok(ConstrType::ConstrNotnull | ConstrType::ConstrPrimary) => not_null = true,
                    Ok(ConstrType::ConstrDefault) => {
                        default = c.raw_expr.as_ref().and_then(|e| e.node.as_ref()).map(default_value);
                    }
                    Ok(ConstrType::ConstrForeign) => {
                        references = Some(foreign_key(table, c, vec![def.colname.clone()], resolve));
                    }
                    _ => {}
                }
            }
            AlterCommand::AddColumn {
                column: def.colname.clone(),
                filled_per_row: filled_per_row(def, &column_type),
                column_type,
                not_null,
                default,
                references,
                if_not_exists: cmd.missing_ok,
            }
        }
        Ok(AlterTableType::AtAlterColumnType) => {
            let Some(NodeEnum::ColumnDef(def)) = cmd.def.as_ref().and_then(|d| d.node.as_ref()) else {
                return AlterCommand::Other;
            };
            // `USING col` (or `USING col::type`) is the plain conversion PostgreSQL does anyway.
            let using = def.raw_default.as_ref().and_then(|e| e.node.as_ref()).is_some_and(|expr| {
                let expr = match expr {
                    NodeEnum::TypeCast(cast) => cast.arg.as_ref().and_then(|a| a.node.as_ref()),
                    other => Some(other),
                };
                !matches!(expr, Some(NodeEnum::ColumnRef(r)) if string_values(&r.fields) == [cmd.name.as_str()])
            });
            AlterCommand::AlterColumnType {
                column: cmd.name.clone(),
                new_type: column_type(def.type_name.as_ref()),
                using,
            }
        }
        Ok(AlterTableType::AtDropColumn) => AlterCommand::DropColumn {
            column: cmd.name.clone(),
            cascade: cmd.behavior == pg_query::protobuf::DropBehavior::DropCascade as i32,
        },
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
            let not_null_column = match c.raw_expr.as_ref().and_then(|e| e.node.as_ref()) {
                Some(NodeEnum::NullTest(test)) if test.nulltesttype == NullTestType::IsNotNull as i32 => {
                    match test.arg.as_ref().and_then(|a| a.node.as_ref()) {
                        Some(NodeEnum::ColumnRef(r)) => string_values(&r.fields).last().map(|c| c.to_string()),
                        _ => None,
                    }
                }
                _ => None,
            };
            let (columns, references) = if kind == "FOREIGN KEY" {
                (strings(&c.fk_attrs), Some(relation_name(c.pktable.as_ref(), resolve)))
            } else if kind == "CHECK" {
                let mut read: Vec<String> = c
                    .raw_expr
                    .as_ref()
                    .and_then(|e| e.node.as_ref())
                    .map(|expr| expr.nodes())
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|(node, ..)| match node {
                        pg_query::NodeRef::ColumnRef(r) => string_values(&r.fields).last().map(|c| c.to_string()),
                        _ => None,
                    })
                    .collect();
                read.sort();
                read.dedup();
                (read, None)
            } else {
                (strings(&c.keys), None)
            };
            let referenced_columns = strings(&c.pk_attrs);
            AlterCommand::AddConstraint {
                kind,
                name: c.conname.clone(),
                not_valid: c.skip_validation,
                using_index: !c.indexname.is_empty(),
                columns,
                references,
                referenced_columns,
                not_null_column,
            }
        }
        Ok(AlterTableType::AtValidateConstraint) => AlterCommand::ValidateConstraint { name: cmd.name.clone() },
        Ok(AlterTableType::AtSetStatistics) => AlterCommand::PlannerSetting { command: "SET STATISTICS" },
        Ok(AlterTableType::AtSetOptions | AlterTableType::AtResetOptions) => {
            AlterCommand::PlannerSetting { command: "SET (attribute option)" }
        }
        Ok(AlterTableType::AtClusterOn) => AlterCommand::PlannerSetting { command: "CLUSTER ON" },
        Ok(AlterTableType::AtDropCluster) => AlterCommand::PlannerSetting { command: "SET WITHOUT CLUSTER" },
        Ok(AlterTableType::AtDropConstraint) => AlterCommand::DropConstraint { name: cmd.name.clone() },
        Ok(AlterTableType::AtSetTableSpace) => AlterCommand::Rewrite { command: "SET TABLESPACE" },
        Ok(AlterTableType::AtSetLogged) => AlterCommand::Rewrite { command: "SET LOGGED" },
        Ok(AlterTableType::AtSetUnLogged) => AlterCommand::Rewrite { command: "SET UNLOGGED" },
        Ok(AlterTableType::AtSetAccessMethod) => AlterCommand::Rewrite { command: "SET ACCESS METHOD" },
        Ok(AlterTableType::AtEnableTrig | AlterTableType::AtEnableAlwaysTrig | AlterTableType::AtEnableReplicaTrig) => {
            AlterCommand::Trigger { command: "ENABLE TRIGGER" }
        }
        Ok(AlterTableType::AtDisableTrig) => AlterCommand::Trigger { command: "DISABLE TRIGGER" },
        Ok(AlterTableType::AtEnableTrigAll | AlterTableType::AtEnableTrigUser) => {
            AlterCommand::Trigger { command: "ENABLE TRIGGER ALL" }
        }
        Ok(AlterTableType::AtDisableTrigAll | AlterTableType::AtDisableTrigUser) => {
            AlterCommand::Trigger { command: "DISABLE TRIGGER ALL" }
        }
        Ok(
            AlterTableType::AtAttachPartition
            | AlterTableType::AtDetachPartition
            | AlterTableType::AtDetachPartitionFinalize,
        ) => {
            let Some(NodeEnum::PartitionCmd(partition)) = cmd.def.as_ref().and_then(|d| d.node.as_ref()) else {
                return AlterCommand::Other;
            };
            let name = relation_name(partition.name.as_ref(), resolve);
            if cmd.subtype == AlterTableType::AtAttachPartition as i32 {
                AlterCommand::AttachPartition { partition: name }
            } else {
                // FINALIZE ends an interrupted DETACH ... CONCURRENTLY, with its locks.
                let finalize = cmd.subtype == AlterTableType::AtDetachPartitionFinalize as i32;
                AlterCommand::DetachPartition {
                    partition: name,
                    concurrently: partition.concurrent || finalize,
                    finalize,
                }
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
    let functions: Vec<String> = expr
        .nodes()
        .into_iter()
        .filter_map(|(node, ..)| match node {
            NodeRef::FuncCall(call) => {
                let name = qualified_name(&call.funcname);
                Some(name.rsplit('.').next().unwrap_or(&name).to_string())
            }
            _ => None,
        })
        .collect();
    if let Some(function) = functions.iter().find(|f| VOLATILE_FUNCTIONS.contains(&f.as_str())) {
        return DefaultValue::Volatile { function: function.clone() };
    }
    let unknown: Vec<String> = functions.into_iter().filter(|f| !KNOWN_STABLE.contains(&f.as_str())).collect();
    if unknown.is_empty() {
        DefaultValue::Constant
    } else {
        DefaultValue::Calls { functions: unknown }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn effect(sql: &str) -> Effect {
        analyze_statement(sql).unwrap()
    }

    #[test]
    fn types_as_the_catalog_prints_them_are_the_types_migrations_write() {
        let parsed = |text: &str| parse_type(text).unwrap();
        assert_eq!(parsed("character varying(200)"), column_type_of("CREATE TABLE t (c varchar(200))"));
        assert_eq!(parsed("integer[]"), ColumnType { name: "int4".into(), modifiers: vec![], array: true });
        assert_eq!(parsed("timestamp with time zone").name, "timestamptz");
        assert_eq!(parsed("numeric(10,2)").modifiers, [10, 2]);
        assert_eq!(parsed("public.\"Mood\"").name, "Mood");
        assert_eq!(parse_type("int; DROP TABLE t"), None);
        assert_eq!(parse_type("1"), None);
    }

    fn column_type_of(sql: &str) -> ColumnType {
        match effect(sql).action {
            Action::CreateTable { columns, .. } => columns[0].column_type.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_rows_a_statement_reads_and_writes() {
        let write = |table: &str, rows: RowScope| RowAccess { table: table.into(), write: true, rows };
        let read = |table: &str, rows: RowScope| RowAccess { table: table.into(), write: false, rows };
        let pins = |alternatives: &[&[&str]]| {
            RowScope::Where(alternatives.iter().map(|a| a.iter().map(|c| c.to_string()).collect()).collect())
        };
        let rows = |sql: &str| effect(sql).rows;
        assert_eq!(rows("UPDATE users SET a = 1"), [write("users", RowScope::All)]);
        assert_eq!(rows("UPDATE users SET a = 1 WHERE id > 0"), [write("users", pins(&[&[]]))]);
        assert_eq!(rows("UPDATE users SET a = 1 WHERE id = 5"), [write("users", pins(&[&["id"]]))]);
        assert_eq!(
            rows("DELETE FROM app.users u WHERE u.id IN (1, 2) OR (a = 'x'::text AND 3 = b) OR c IS NULL"),
            [write("app.users", pins(&[&["id"], &["a", "b"], &[]]))]
        );
        assert_eq!(rows("UPDATE t SET a = 1 WHERE (a, b) = (1, lower('X'))"), [write("t", pins(&[&["a", "b"]]))]);
        assert_eq!(rows("UPDATE t SET a = 1 WHERE id = random()"), [write("t", pins(&[&[]]))], "per row");
        assert_eq!(rows("UPDATE t SET a = 1 WHERE id IN (SELECT 1)"), [write("t", pins(&[&[]]))]);
        // With another table joined, an unqualified column may be the other's.
        assert_eq!(
            rows("UPDATE t SET a = o.a FROM o WHERE id = 5 AND t.k = 1"),
            [write("t", pins(&[&["k"]])), read("o", RowScope::All)]
        );
        assert_eq!(
            rows("MERGE INTO t USING src s ON t.id = s.id WHEN MATCHED THEN DELETE"),
            [write("t", RowScope::All), read("src", RowScope::All)]
        );
        assert_eq!(
            rows("INSERT INTO t2 (a) SELECT a FROM t WHERE t.id = 3 UNION ALL SELECT a FROM u JOIN v ON true"),
            [
                write("t2", RowScope::Listed),
                read("t", pins(&[&["id"]])),
                read("u", RowScope::All),
                read("v", RowScope::All)
            ]
        );
        assert_eq!(
            rows("WITH moved AS (DELETE FROM old RETURNING *) INSERT INTO new SELECT * FROM moved"),
            [write("old", RowScope::All), write("new", RowScope::Listed), read("old", RowScope::All)]
        );
        let e = effect("WITH x AS (UPDATE t SET a = 1 RETURNING *) SELECT count(*) FROM x");
        assert_eq!(e.action, Action::WriteRows { command: "UPDATE", table: "t".into() });
        assert_eq!(e.locks, [("t".to_string(), LockMode::RowExclusive)]);
        assert_eq!(effect("SELECT a INTO t2 FROM t").rows, [read("t", RowScope::All)]);
        assert_eq!(effect("CREATE TABLE t2 AS SELECT * FROM t").rows, [read("t", RowScope::All)]);
        // Rows a statement lists itself are not parsed into a tree at all.
        assert_eq!(effect("INSERT INTO t VALUES (1)").action, Action::Other);
        assert!(effect("SELECT count(*) FROM t").rows.is_empty());
    }

    #[test]
    fn search_path_settings() {
        let set = |sql: &str| effect(sql).action;
        let path = |schemas: &[&str], local: bool| Action::SetSearchPath {
            schemas: Some(schemas.iter().map(|s| s.to_string()).collect()),
            local,
        };
        assert_eq!(set("SET search_path = app, public"), path(&["app", "public"], false));
        assert_eq!(set("SET LOCAL search_path TO \"App\""), path(&["App"], true));
        assert_eq!(set("SET search_path = ''"), path(&[], false));
        assert_eq!(set("RESET search_path"), Action::SetSearchPath { schemas: None, local: false });
        assert_eq!(set("SET search_path TO DEFAULT"), Action::SetSearchPath { schemas: None, local: false });
        assert_eq!(
            set("SELECT pg_catalog.set_config('search_path', 'App, \"My \"\"S\"\"\", public', true)"),
            path(&["app", "My \"S\"", "public"], true)
        );
        assert_eq!(set("SELECT set_config('search_path', '', false)"), path(&[], false));
        // Another setting is set as SET sets it.
        assert_eq!(
            set("SELECT set_config('Lock_Timeout', '2s', false)"),
            Action::Set { name: "lock_timeout".into(), value: "2s".into(), local: false }
        );
    }

    #[test]
    fn index_builds() {
        let e = effect("CREATE INDEX i ON users (email)");
        assert_eq!(e.locks, [("users".to_string(), LockMode::Share)]);
        assert!(!e.requires_no_transaction);
        // The planner's settings take SHARE UPDATE EXCLUSIVE (checked on PostgreSQL 15).
        for sql in [
            "ALTER TABLE users ALTER COLUMN email SET STATISTICS 500",
            "ALTER TABLE users ALTER COLUMN email SET (n_distinct = 100), ALTER COLUMN name RESET (n_distinct)",
            "ALTER TABLE users CLUSTER ON users_pkey",
            "ALTER TABLE users SET WITHOUT CLUSTER",
        ] {
            assert_eq!(effect(sql).locks, [("users".to_string(), LockMode::ShareUpdateExclusive)], "{sql}");
        }
        let e = effect("ALTER TABLE users ALTER COLUMN email SET STATISTICS 500, ADD COLUMN x int");
        assert_eq!(e.locks, [("users".to_string(), LockMode::AccessExclusive)]);
        let e = effect("CREATE UNIQUE INDEX CONCURRENTLY i ON app.users (email)");
        assert_eq!(
            e.action,
            Action::CreateIndex {
                name: "i".into(),
                table: "app.users".into(),
                columns: vec!["email".into()],
                concurrently: true,
                only: false,
                partial: false,
                unique: true,
            }
        );
        assert_eq!(e.locks[0].1, LockMode::ShareUpdateExclusive);
        assert!(e.requires_no_transaction);
    }

    #[test]
    fn lock_table_takes_what_it_names() {
        let e = effect("LOCK TABLE a, app.b IN SHARE ROW EXCLUSIVE MODE");
        assert_eq!(
            e.locks,
            [("a".to_string(), LockMode::ShareRowExclusive), ("app.b".to_string(), LockMode::ShareRowExclusive)]
        );
        assert_eq!(effect("LOCK c").locks, [("c".to_string(), LockMode::AccessExclusive)]);
        assert_eq!(effect("LOCK TABLE d IN ACCESS SHARE MODE").locks, [("d".to_string(), LockMode::AccessShare)]);
    }

    #[test]
    fn unnamed_indexes_get_postgres_default_names() {
        let name = |sql: &str| match effect(sql).action {
            Action::CreateIndex { name, .. } => name,
            other => panic!("{other:?}"),
        };
        assert_eq!(name("CREATE UNIQUE INDEX ON reserved (canon_crate_name(name))"), "reserved_canon_crate_name_idx");
        assert_eq!(name("CREATE INDEX ON t (a, b)"), "t_a_b_idx");
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
                    column_type: ColumnType { name: "uuid".into(), modifiers: vec![], array: false },
                    not_null: true,
                    default: Some(DefaultValue::Volatile { function: "gen_random_uuid".into() }),
                    filled_per_row: None,
                    references: None,
                    if_not_exists: false,
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
        // VALIDATE reads the table (under SHARE UPDATE EXCLUSIVE alone); a UNIQUE constraint
        // USING INDEX takes over the built index, while a PRIMARY KEY's still checks for NULL.
        assert!(effect("ALTER TABLE t VALIDATE CONSTRAINT c").scans);
        assert!(!effect("ALTER TABLE t ADD CONSTRAINT k UNIQUE USING INDEX i").scans);
        assert!(effect("ALTER TABLE t ADD CONSTRAINT k PRIMARY KEY USING INDEX i").scans);
        let fk = effect("ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (u) REFERENCES users (id) NOT VALID");
        let expected =
            [("t".to_string(), LockMode::ShareRowExclusive), ("users".to_string(), LockMode::ShareRowExclusive)];
        assert_eq!(fk.locks, expected, "a foreign key locks the referenced table too");
    }

    #[test]
    fn destructive_and_incompatible() {
        let e = effect("DROP TABLE a, s.b");
        assert_eq!(e.action, Action::DropTable { tables: vec!["a".into(), "s.b".into()], cascade: false });
        assert!(e.destructive && e.backward_incompatible);
        let e = effect("DROP TABLE IF EXISTS a CASCADE");
        assert_eq!(e.action, Action::DropTable { tables: vec!["a".into()], cascade: true });
        let e = effect("ALTER TABLE t DROP COLUMN c CASCADE, DROP COLUMN d, ADD COLUMN IF NOT EXISTS e int");
        let Action::AlterTable { commands, .. } = e.action else { panic!("{:?}", e.action) };
        assert!(matches!(&commands[0], AlterCommand::DropColumn { column, cascade: true } if column == "c"));
        assert!(matches!(&commands[1], AlterCommand::DropColumn { column, cascade: false } if column == "d"));
        assert!(matches!(&commands[2], AlterCommand::AddColumn { if_not_exists: true, .. }));
        let e = effect("ALTER TABLE users RENAME COLUMN name TO full_name");
        assert_eq!(
            e.action,
            Action::Rename {
                object: "column",
                table: "users".into(),
                name: "users.name".into(),
                new_name: "full_name".into()
            }
        );
        assert!(effect("TRUNCATE a").destructive);
        assert!(effect("ALTER TABLE t DROP COLUMN c").destructive);
    }

    /// `requires_no_transaction` comes from the keyword list discovery reads; where the tree
    /// says CONCURRENTLY, the list must say so too.
    /// DETACH CONCURRENTLY and FINALIZE take SHARE UPDATE EXCLUSIVE on the parent; FINALIZE
    /// takes ACCESS EXCLUSIVE on the partition (observed on PostgreSQL 15).
    #[test]
    fn detach_partition_locks() {
        let locks = |sql: &str| effect(sql).locks;
        assert_eq!(
            locks("ALTER TABLE pt DETACH PARTITION p CONCURRENTLY"),
            [("pt".to_string(), LockMode::ShareUpdateExclusive), ("p".to_string(), LockMode::ShareUpdateExclusive)]
        );
        assert_eq!(
            locks("ALTER TABLE pt DETACH PARTITION p FINALIZE"),
            [("pt".to_string(), LockMode::ShareUpdateExclusive), ("p".to_string(), LockMode::AccessExclusive)]
        );
        assert_eq!(
            locks("ALTER TABLE pt DETACH PARTITION p"),
            [("pt".to_string(), LockMode::AccessExclusive), ("p".to_string(), LockMode::AccessExclusive)]
        );
    }

    #[test]
    fn the_keyword_list_agrees_with_the_tree() {
        for sql in [
            "CREATE INDEX CONCURRENTLY i ON t (a)",
            "CREATE INDEX i ON t (a)",
            "create unique index concurrently if not exists i on t (a)",
            "CREATE INDEX \"concurrently\" ON t (a)",
            "DROP INDEX CONCURRENTLY IF EXISTS i",
            "DROP INDEX i",
            "REINDEX INDEX CONCURRENTLY i",
            "REINDEX (CONCURRENTLY) TABLE t",
            "REINDEX (CONCURRENTLY false) TABLE t",
            "REINDEX TABLE t",
            "ALTER TABLE pt DETACH PARTITION p CONCURRENTLY",
            "ALTER TABLE pt DETACH PARTITION p",
        ] {
            let e = effect(sql);
            let concurrently = match &e.action {
                Action::CreateIndex { concurrently, .. }
                | Action::DropIndex { concurrently, .. }
                | Action::Reindex { concurrently, .. } => *concurrently,
                Action::AlterTable { commands, .. } => {
                    commands.iter().any(|c| matches!(c, AlterCommand::DetachPartition { concurrently: true, .. }))
                }
                other => panic!("{sql}: {other:?}"),
            };
            assert_eq!(e.requires_no_transaction, concurrently, "{sql}");
        }
        for sql in
            ["CREATE DATABASE d", "ALTER SYSTEM SET work_mem = '4MB'", "REINDEX SCHEMA s", "CLUSTER", "VACUUM FULL t"]
        {
            assert!(effect(sql).requires_no_transaction, "{sql}");
        }
        assert!(!effect("CLUSTER t USING i").requires_no_transaction);
    }

    #[test]
    fn analyze_may_run_in_a_transaction_but_vacuum_may_not() {
        // Found in hatchet's migrations: ANALYZE is the same node as VACUUM.
        assert!(!effect("ANALYZE v1_runs_olap, v1_tasks_olap").requires_no_transaction);
        assert!(effect("VACUUM v1_runs_olap").requires_no_transaction);
    }

    /// Every statement kind `effect_of` reads is parsed into a tree.
    #[test]
    fn the_statements_rules_read_get_a_tree() {
        for sql in [
            "ALTER TABLE t ADD COLUMN c int",
            "create unique index i on t (c)",
            "CREATE TEMP TABLE t (id int)",
            "CREATE OR REPLACE TRIGGER t AFTER INSERT ON u FOR EACH ROW EXECUTE FUNCTION f()",
            "CREATE CONSTRAINT TRIGGER t AFTER INSERT ON u FOR EACH ROW EXECUTE FUNCTION f()",
            "CREATE DOMAIN d AS int CHECK (VALUE > 0)",
            "ALTER DOMAIN d ADD CONSTRAINT c CHECK (VALUE > 1)",
            "ALTER TYPE e ADD VALUE 'x'",
            "DROP TABLE t",
            "WITH x AS (SELECT 1) UPDATE t SET c = 1",
            "DELETE FROM t",
            "TRUNCATE t",
            "REINDEX TABLE t",
            "VACUUM FULL t",
            "CLUSTER t USING i",
            "REFRESH MATERIALIZED VIEW v",
            "DO $$ BEGIN END $$",
            "CALL p()",
            "EXECUTE q",
            "BEGIN",
            "START TRANSACTION",
            "COMMIT",
            "END",
            "ROLLBACK",
            "SET lock_timeout = '1s'",
            "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 1'",
            "/* leading comment */ ALTER TABLE t DROP COLUMN c",
        ] {
            assert!(needs_tree(sql), "{sql}");
        }
        for sql in [
            "CREATE VIEW v AS SELECT 1",
            "CREATE PROCEDURE p() LANGUAGE sql AS 'SELECT 1'",
            "INSERT INTO t VALUES (1)",
            "GRANT SELECT ON t TO r",
            "COMMENT ON TABLE t IS 'x'",
            "CREATE EXTENSION x",
        ] {
            assert!(!needs_tree(sql), "{sql}");
        }
    }

    #[test]
    fn the_byte_scan_finds_the_long_identifiers_the_char_scan_does() {
        let long = "a".repeat(64);
        let accented = format!("é{}", "b".repeat(63));
        for sql in [
            format!("CREATE TABLE {long} (id int)"),
            format!("CREATE TABLE \"{long} x\" (id int)"),
            format!("SELECT '{long}', 'it''s {long}' FROM t"),
            format!("ALTER TABLE t ADD COLUMN {accented} int, ADD COLUMN short int"),
            format!("SELECT ${long}$ FROM t -- {long}"),
            "SELECT \"unterminated".to_string(),
            "SELECT 'unterminated".to_string(),
        ] {
            assert_eq!(long_identifiers(&sql), scan_words(&sql, false).0, "{sql}");
        }
    }

    #[test]
    fn statements_without_a_tree_are_still_checked() {
        assert_eq!(
            effect("CREATE OR REPLACE VIEW v AS SELECT 1").action,
            Action::CreateView { view: "v".into(), base: None }
        );
        assert_eq!(
            effect("CREATE VIEW app.v AS SELECT a.id FROM app.users a WHERE a.id > 0").action,
            Action::CreateView { view: "app.v".into(), base: Some("app.users".into()) }
        );
        assert!(analyze_statement("CREATE VIEW v AS SELEC 1").is_err());
        assert!(analyze_statement("INSERT INTO t VALUES (1,").is_err());
        assert_eq!(string_literals("INSERT INTO t (s) VALUES ('new_value', 'it''s')"), ["new_value", "it's"]);
        assert!(matches!(
            effect("CREATE OR REPLACE TRIGGER t AFTER INSERT ON u FOR EACH ROW EXECUTE FUNCTION f()").action,
            Action::TriggerDdl { .. }
        ));
    }

    #[test]
    fn syntax_errors_are_values() {
        let err = analyze_statement("ALTER TABLE t ADD COLUMN").unwrap_err();
        assert!(err.message.contains("syntax error"), "{}", err.message);
    }
}
