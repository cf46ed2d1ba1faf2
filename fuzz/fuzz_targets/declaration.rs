//! Declarative migrations: any text is read, and what reads is planned against a fixed table,
//! or refused, never a panic.
#![no_main]
use cutover_engine::{ColumnShape, IndexShape, TableShape};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(declaration) = cutover_expand::parse_declaration(std::path::Path::new("2_x.toml"), text) else { return };
    let column = |name: &str, not_null: bool| ColumnShape {
        name: name.to_string(),
        type_name: "text".to_string(),
        not_null,
        default: None,
        has_dependents: false,
        views: Vec::new(),
    };
    // `name` has an index, which a type change builds again on its shadow.
    let index = IndexShape {
        name: "users_name".to_string(),
        unique: true,
        method: "btree".to_string(),
        keys: vec![("name".to_string(), "DESC".to_string()), ("id".to_string(), String::new())],
    };
    let tables = [TableShape {
        name: "users".to_string(),
        columns: vec![column("id", true), column("name", false)],
        indexes: vec![index],
        has_key: true,
        partitioned: false,
    }];
    let input = cutover_expand::PlanInput {
        version: "2",
        name: "x",
        base_schema: "public",
        tables: &tables,
        previous_schema: None,
        nonce: "f",
    };
    let _ = cutover_expand::plan(&input, &declaration.operations);
});
