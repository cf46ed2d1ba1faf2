//! sqlx: a simple `<version>_<name>.sql`, or a reversible `<version>_<name>.up.sql` with its
//! `.down.sql`, side by side in one folder.

use std::path::{Path, PathBuf};

use super::native::{pair_files, read_file_pairs};
use super::{recognise_single_file, FileCandidate, Found, LayoutRules, ReadContext, Recognised};
use crate::{Error, Layout, Migration};

pub(crate) struct Sqlx;

impl LayoutRules for Sqlx {
    fn name(&self) -> &'static str {
        "sqlx"
    }

    fn expected_names(&self) -> &'static str {
        "`<version>_<name>.sql`, or `<version>_<name>.up.sql` and `.down.sql`"
    }

    /// Any `<version>_<name>.sql` not taken by a layout that knows its files by their text.
    fn recognise_file(&self, file: &mut FileCandidate<'_>) -> Result<Option<Recognised>, Error> {
        recognise_single_file(file, |_| true)
    }

    fn reads(&self) -> &'static [Layout] {
        // A forced sqlx layout reads single files as plain SQL, whatever comments they hold.
        &[Layout::Native, Layout::Sqlx, Layout::Dbmate, Layout::Goose]
    }

    fn detected_beside(&self) -> &'static [Layout] {
        // sqlx reads reversible pairs and simple files side by side.
        &[Layout::Native]
    }

    fn read(&self, found: &[Found], _context: &mut ReadContext<'_>) -> Result<Vec<Migration>, Error> {
        read_file_pairs(Layout::Sqlx, found)
    }

    fn new_files(&self, dir: &Path, version: &str, slug: &str) -> Vec<(PathBuf, String)> {
        pair_files(dir, version, slug)
    }
}

#[cfg(test)]
mod tests {
    use crate::discover::testing::read;
    use crate::Layout;

    #[test]
    fn sqlx_reads_simple_and_reversible_files_together() {
        let (_dir, res) = read(&[("1_a.sql", "-- no-transaction\nSELECT 1;"), ("2_b.up.sql", "SELECT 2;")], None);
        let set = res.unwrap();
        assert_eq!(set.layout, Layout::Sqlx);
        assert!(!set.migrations[0].up.settings.transaction);
    }
}
