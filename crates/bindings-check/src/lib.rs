//! Nothing to link: this crate only holds the test that keeps `vendor/pg_query`'s kept bindings
//! (`src/bindings_generated.rs`) equal to what bindgen generates from `pg_query.h`.
//!
//! cutover vendors pg_query so that building it needs a C compiler but no libclang (see
//! ARCHITECTURE.md, "The PostgreSQL parser"). Regenerate after updating the vendored crate:
//! `CUTOVER_UPDATE_BINDINGS=1 cargo test -p cutover-bindings-check`.
