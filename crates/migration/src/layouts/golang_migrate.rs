//! golang-migrate: the same file names as cutover's own layout, so never detected, only chosen
//! (`--layout golang-migrate`); its files are recognised as native ones.

use std::path::{Path, PathBuf};

use super::native::{pair_files, read_file_pairs, PAIR_NAMES};
use super::{Found, LayoutRules, ReadContext};
use crate::{Error, Layout, Migration};

pub(crate) struct GolangMigrate;

impl LayoutRules for GolangMigrate {
    fn name(&self) -> &'static str {
        "golang-migrate"
    }

    fn expected_names(&self) -> &'static str {
        PAIR_NAMES
    }

    fn reads(&self) -> &'static [Layout] {
        &[Layout::Native]
    }

    fn read(&self, found: &[Found], _context: &mut ReadContext<'_>) -> Result<Vec<Migration>, Error> {
        read_file_pairs(Layout::GolangMigrate, found)
    }

    fn new_files(&self, dir: &Path, version: &str, slug: &str) -> Vec<(PathBuf, String)> {
        pair_files(dir, version, slug)
    }
}
