//! The rows a data-changing statement reads and writes ([`RowAccess`]): its target and which of
//! its rows the `WHERE` clause can reach, the sources it copies from, its joins, and the
//! data-changing statements of its `WITH`, which PostgreSQL runs whether the query reads them
//! or not.

use pg_query::protobuf::{AExprKind, BoolExprType, Node, RangeVar, SelectStmt, WithClause};
use pg_query::NodeEnum;

use super::{relation_name, string_values, Resolve, KNOWN_STABLE};
use crate::{RowAccess, RowScope};

/// Beyond this many alternatives (an `AND` of `OR`s multiplies them), a condition is taken as
/// pinning nothing: it may reach every row.
const MOST_ALTERNATIVES: usize = 64;

/// What a statement's rows come to: every access, and its first data-changing command with
/// its table.
pub(super) struct RowWork {
    pub(super) accesses: Vec<RowAccess>,
    pub(super) first_write: Option<(&'static str, String)>,
}

/// The rows `node` (an `UPDATE`, `DELETE`, `INSERT`, `MERGE`, or a query with a `WITH`) reads
/// and writes; for a plain query, the data-changing statements of its `WITH` only (what it
/// reads otherwise is not data work of the migration's).
pub(super) fn row_work(node: &NodeEnum, resolve: Resolve<'_>) -> RowWork {
    let mut walker = Walker { resolve, ctes: Vec::new(), accesses: Vec::new(), first_write: None };
    match node {
        NodeEnum::SelectStmt(select) => walker.with(select.with_clause.as_ref()),
        other => walker.statement(other),
    }
    RowWork { accesses: walker.accesses, first_write: walker.first_write }
}

/// The rows a query reads (the source of `CREATE TABLE ... AS`, `SELECT ... INTO`), with the
/// data-changing statements of its `WITH`.
pub(super) fn query_reads(select: &SelectStmt, resolve: Resolve<'_>) -> Vec<RowAccess> {
    let mut walker = Walker { resolve, ctes: Vec::new(), accesses: Vec::new(), first_write: None };
    let reads = walker.select_reads(select);
    walker.accesses.extend(reads);
    walker.accesses
}

struct Walker<'a> {
    resolve: Resolve<'a>,
    /// The `WITH` queries in scope, by name, with the rows reading each of them comes to.
    ctes: Vec<(String, Vec<RowAccess>)>,
    accesses: Vec<RowAccess>,
    first_write: Option<(&'static str, String)>,
}

impl Walker<'_> {
    fn statement(&mut self, node: &NodeEnum) {
        match node {
            NodeEnum::UpdateStmt(stmt) => {
                self.with(stmt.with_clause.as_ref());
                self.write("UPDATE", stmt.relation.as_ref(), stmt.where_clause.as_deref(), &stmt.from_clause);
            }
            NodeEnum::DeleteStmt(stmt) => {
                self.with(stmt.with_clause.as_ref());
                self.write("DELETE", stmt.relation.as_ref(), stmt.where_clause.as_deref(), &stmt.using_clause);
            }
            NodeEnum::InsertStmt(stmt) => {
                self.with(stmt.with_clause.as_ref());
                let table = relation_name(stmt.relation.as_ref(), self.resolve);
                // As many rows as its source gives: the source's rows are the work.
                let reads = match stmt.select_stmt.as_ref().and_then(|s| s.node.as_ref()) {
                    Some(NodeEnum::SelectStmt(select)) => self.select_reads(select),
                    _ => Vec::new(),
                };
                self.first_write.get_or_insert(("INSERT", table.clone()));
                self.accesses.push(RowAccess { table, write: true, rows: RowScope::Listed });
                self.accesses.extend(reads);
            }
            NodeEnum::MergeStmt(stmt) => {
                self.with(stmt.with_clause.as_ref());
                let table = relation_name(stmt.relation.as_ref(), self.resolve);
                // The target is joined with the whole source: a join the condition cannot narrow.
                let reads = stmt.source_relation.as_deref().map(|s| self.reads_of_source(s)).unwrap_or_default();
                self.first_write.get_or_insert(("MERGE", table.clone()));
                self.accesses.push(RowAccess { table, write: true, rows: RowScope::All });
                self.accesses.extend(reads);
            }
            _ => {}
        }
    }

    /// An `UPDATE` or `DELETE` of `relation`, with its condition and the other tables it joins.
    fn write(&mut self, command: &'static str, relation: Option<&RangeVar>, condition: Option<&Node>, joined: &[Node]) {
        let table = relation_name(relation, self.resolve);
        // With other tables joined, an unqualified column may be theirs.
        let target = Target::of(relation, joined.is_empty());
        let rows = match condition {
            None => RowScope::All,
            Some(condition) => RowScope::Where(alternatives(condition, &target)),
        };
        self.first_write.get_or_insert((command, table.clone()));
        self.accesses.push(RowAccess { table, write: true, rows });
        for item in joined {
            let reads = self.reads_of_source(item);
            self.accesses.extend(reads);
        }
    }

    /// Records the queries of a `WITH`: a data-changing one runs (and counts) wherever it is
    /// read; reading any of them reads what it reads.
    fn with(&mut self, with: Option<&WithClause>) {
        for cte in with.iter().flat_map(|w| &w.ctes) {
            let Some(NodeEnum::CommonTableExpr(cte)) = cte.node.as_ref() else { continue };
            let Some(query) = cte.ctequery.as_ref().and_then(|q| q.node.as_ref()) else { continue };
            let read_through = match query {
                NodeEnum::SelectStmt(select) => self.select_reads(select),
                other => {
                    let before = self.accesses.len();
                    self.statement(other);
                    // Its RETURNING rows are the rows it reached.
                    self.accesses[before..].iter().map(|a| RowAccess { write: false, ..a.clone() }).collect()
                }
            };
            self.ctes.push((cte.ctename.clone(), read_through));
        }
    }

    /// The rows a query reads: its sources, narrowed by its condition when it reads one table.
    fn select_reads(&mut self, select: &SelectStmt) -> Vec<RowAccess> {
        self.with(select.with_clause.as_ref());
        let mut reads = Vec::new();
        for side in [&select.larg, &select.rarg].into_iter().flatten() {
            reads.extend(self.select_reads(side));
        }
        if let [item] = select.from_clause.as_slice() {
            if let Some(NodeEnum::RangeVar(range)) = item.node.as_ref() {
                if !self.is_cte(range) {
                    let rows = match select.where_clause.as_deref() {
                        None => RowScope::All,
                        Some(condition) => RowScope::Where(alternatives(condition, &Target::of(Some(range), true))),
                    };
                    reads.push(RowAccess { table: relation_name(Some(range), self.resolve), write: false, rows });
                    return reads;
                }
            }
        }
        for item in &select.from_clause {
            reads.extend(self.reads_of_source(item));
        }
        reads
    }

    /// What one item of a `FROM` (or `USING`) list reads: all of each table, a join being what
    /// cannot be narrowed here.
    fn reads_of_source(&mut self, item: &Node) -> Vec<RowAccess> {
        match item.node.as_ref() {
            Some(NodeEnum::RangeVar(range)) if self.is_cte(range) => self
                .ctes
                .iter()
                .rev()
                .find(|(name, _)| *name == range.relname)
                .map(|(_, r)| r.clone())
                .unwrap_or_default(),
            Some(NodeEnum::RangeVar(range)) => {
                vec![RowAccess { table: relation_name(Some(range), self.resolve), write: false, rows: RowScope::All }]
            }
            Some(NodeEnum::JoinExpr(join)) => {
                let mut reads = Vec::new();
                for side in [&join.larg, &join.rarg].into_iter().flatten() {
                    reads.extend(self.reads_of_source(side));
                }
                reads
            }
            Some(NodeEnum::RangeSubselect(sub)) => match sub.subquery.as_ref().and_then(|q| q.node.as_ref()) {
                Some(NodeEnum::SelectStmt(select)) => self.select_reads(select),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// Whether `range` names a `WITH` query in scope rather than a table.
    fn is_cte(&self, range: &RangeVar) -> bool {
        range.schemaname.is_empty() && self.ctes.iter().any(|(name, _)| *name == range.relname)
    }
}

/// The table a condition is about: the names its columns may be qualified with, and whether an
/// unqualified column is surely its own.
struct Target {
    names: Vec<String>,
    bare: bool,
}

impl Target {
    fn of(relation: Option<&RangeVar>, bare: bool) -> Target {
        let mut names = Vec::new();
        if let Some(r) = relation {
            names.push(r.relname.clone());
            names.extend(r.alias.as_ref().map(|a| a.aliasname.clone()));
        }
        Target { names, bare }
    }

    /// The column of the target that `node` names, if it names one.
    fn column(&self, node: &Node) -> Option<String> {
        let Some(NodeEnum::ColumnRef(c)) = node.node.as_ref() else { return None };
        if c.fields.iter().any(|f| !matches!(f.node.as_ref(), Some(NodeEnum::String(_)))) {
            return None; // `t.*`
        }
        match string_values(&c.fields).as_slice() {
            [column] if self.bare => Some(column.to_string()),
            [.., qualifier, column] if self.names.iter().any(|n| n == qualifier) => Some(column.to_string()),
            _ => None,
        }
    }
}

/// The alternatives of a condition (its `OR` branches, with `AND`s distributed over them), each
/// with the columns of the target it pins to given values.
fn alternatives(node: &Node, target: &Target) -> Vec<Vec<String>> {
    let nothing = || vec![Vec::new()];
    match node.node.as_ref() {
        Some(NodeEnum::BoolExpr(e)) if e.boolop == BoolExprType::AndExpr as i32 => {
            let mut all: Vec<Vec<String>> = nothing();
            for arg in &e.args {
                let branches = alternatives(arg, target);
                if all.len() * branches.len() > MOST_ALTERNATIVES {
                    return nothing();
                }
                all = all
                    .iter()
                    .flat_map(|pinned| {
                        branches.iter().map(move |more| {
                            let mut both = pinned.clone();
                            both.extend(more.iter().filter(|c| !pinned.contains(c)).cloned());
                            both
                        })
                    })
                    .collect();
            }
            all
        }
        Some(NodeEnum::BoolExpr(e)) if e.boolop == BoolExprType::OrExpr as i32 => {
            let all: Vec<Vec<String>> = e.args.iter().flat_map(|arg| alternatives(arg, target)).collect();
            if all.len() > MOST_ALTERNATIVES {
                nothing()
            } else {
                all
            }
        }
        Some(NodeEnum::AExpr(e)) => vec![pinned_by(e, target)],
        _ => nothing(),
    }
}

/// The target's columns that one comparison pins to given values: `col = v`, `v = col`,
/// `col IN (v, ...)`, `col = ANY(v)`, and the same of rows (`(a, b) = (1, 2)`,
/// `(a, b) IN ((1, 2), (3, 4))`). Nothing for any other comparison.
fn pinned_by(e: &pg_query::protobuf::AExpr, target: &Target) -> Vec<String> {
    if string_values(&e.name) != ["="] {
        return Vec::new();
    }
    let (Some(left), Some(right)) = (e.lexpr.as_deref(), e.rexpr.as_deref()) else { return Vec::new() };
    let kind = AExprKind::try_from(e.kind).unwrap_or(AExprKind::Undefined);
    let sides: [(&Node, &Node); 2] = [(left, right), (right, left)];
    for (column_side, value_side) in sides {
        let columns = columns_of(column_side, target);
        if columns.is_empty() {
            continue;
        }
        let pinned = match kind {
            AExprKind::AexprOp => is_value(value_side),
            AExprKind::AexprOpAny => is_value(value_side),
            // `IN` lists: the list is on the right.
            AExprKind::AexprIn if std::ptr::eq(value_side, right) => match value_side.node.as_ref() {
                Some(NodeEnum::List(list)) => list.items.iter().all(is_value),
                _ => false,
            },
            _ => false,
        };
        if pinned {
            return columns;
        }
    }
    Vec::new()
}

/// The target's columns `node` is: one column, or a row of them (all or none).
fn columns_of(node: &Node, target: &Target) -> Vec<String> {
    match node.node.as_ref() {
        Some(NodeEnum::RowExpr(row)) => {
            row.args.iter().map(|arg| target.column(arg)).collect::<Option<Vec<_>>>().unwrap_or_default()
        }
        _ => target.column(node).into_iter().collect(),
    }
}

/// Whether `node` is one value for the whole statement: constants, parameters, and casts,
/// operators and well-known stable functions of them. A column, a subquery (it may read the
/// row), or any other function (it may be volatile, and then is computed per row) is not.
fn is_value(node: &Node) -> bool {
    match node.node.as_ref() {
        Some(NodeEnum::AConst(_) | NodeEnum::ParamRef(_) | NodeEnum::SqlvalueFunction(_)) => true,
        Some(NodeEnum::TypeCast(cast)) => cast.arg.as_deref().is_some_and(is_value),
        Some(NodeEnum::AExpr(e)) => [&e.lexpr, &e.rexpr].into_iter().flatten().all(|side| is_value(side)),
        Some(NodeEnum::List(list)) => list.items.iter().all(is_value),
        Some(NodeEnum::RowExpr(row)) => row.args.iter().all(is_value),
        Some(NodeEnum::AArrayExpr(array)) => array.elements.iter().all(is_value),
        Some(NodeEnum::FuncCall(call)) => {
            let name = string_values(&call.funcname).last().copied().unwrap_or_default();
            call.over.is_none() && KNOWN_STABLE.contains(&name) && call.args.iter().all(is_value)
        }
        _ => false,
    }
}
