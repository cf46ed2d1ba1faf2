#!/usr/bin/env bash
# A reviewer's sample of `cutover lint`'s error-level findings on real projects: N findings drawn
# at random from the corpus (seeded: the same seed draws the same sample from the same findings),
# each with its file, line, rule, message, help and ~15 lines of the file around it, as Markdown.
# A reviewer marks each true or false; the share of true ones is lint's precision.
#
#   scripts/review-sample.sh [N (30)] [SEED (1)] > sample.md
#
# CUTOVER_CORPUS: the corpus (default ../shared/corpus, beside the repository); its files are
# read where they are, never copied. CUTOVER_BIN: a built cutover binary (default: cargo run).
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-30}"
seed="${2:-1}"
corpus="${CUTOVER_CORPUS:-../shared/corpus}"
if [ ! -d "$corpus" ]; then
  echo "review-sample: no corpus at $corpus (set CUTOVER_CORPUS)" >&2
  exit 2
fi
corpus="$(cd "$corpus" && pwd)"
for tool in jq awk; do
  command -v "$tool" >/dev/null || { echo "review-sample: needs $tool" >&2; exit 2; }
done

cutover() {
  if [ -n "${CUTOVER_BIN:-}" ]; then "$CUTOVER_BIN" "$@"; else cargo run -q -p cutover -- "$@"; fi
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The PostgreSQL projects, each linted as one sequence of migrations: a folder in a layout
# cutover reads, or the files of other layouts named in their order. (supabase-auth's files are
# Go templates and temporal's are versioned baselines: not migrations to lint as they are.)
# Each is linted as the tool that runs its migrations runs them (`--assume-runner`):
# - diesel (crates.io, lemmy, vaultwarden): each migration in a transaction, unless its
#   metadata.toml says `run_in_transaction = false` (then up.sql is one query);
# - goose (hatchet: cmd/hatchet-migrate/migrate/run.go calls goose.Up): each file in a
#   transaction unless `-- +goose NO TRANSACTION`;
# - Prisma (documenso, langfuse): each migration.sql sent as one query, one implicit
#   transaction block;
# - authelia's own migrator (internal/storage/sql_provider_schema.go, SchemaMigrate): every
#   pending migration in one transaction on PostgreSQL, with no way out of it;
# - ory popx (ory-kratos): each file in a transaction, unless `.autocommit.` is in its name;
#   its folder is read in pop's layout, which takes a version's PostgreSQL variant over its
#   generic file as popx does (named one by one, both were linted: review 7's #44).
projects=(
  "crates.io|diesel|dir|rust-lang-registry/migrations"
  "lemmy|diesel|dir|lemmy/migrations"
  "vaultwarden|diesel|dir|vaultwarden/migrations/postgresql"
  "hatchet|goose|dir|hatchet/cmd/hatchet-migrate/migrate/migrations"
  "documenso|prisma|files|documenso/packages/prisma/migrations|*/migration.sql"
  "langfuse|prisma|files|langfuse/packages/shared/prisma/migrations|*/migration.sql"
  "authelia|transaction|files|authelia/internal/storage/migrations/postgres|V*.up.sql"
  "ory-kratos|pop|dir|ory-kratos/persistence/sql/migrations/sql"
)

: > "$work/findings.tsv"
for entry in "${projects[@]}"; do
  IFS='|' read -r name runner kind dir pattern <<< "$entry"
  [ -d "$corpus/$dir" ] || { echo "review-sample: $name: no $dir in the corpus, passed over" >&2; continue; }
  if [ "$kind" = dir ]; then
    args=("$corpus/$dir")
  else
    # Named files are linted in the order given: the versions sort as text.
    mapfile -t args < <(cd "$corpus/$dir" && compgen -G "$pattern" | sort |
      grep -Ev '\.(mysql|sqlite3?|cockroach)\.' | sed "s|^|$corpus/$dir/|")
  fi
  # Exit 1 means error-level findings, which is what is sampled; 2 is a failure.
  status=0
  cutover lint --format json --assume-runner "$runner" "${args[@]}" > "$work/$name.json" 2> "$work/$name.err" || status=$?
  if [ "$status" -gt 1 ]; then
    echo "review-sample: $name: cutover lint failed:" >&2
    cat "$work/$name.err" >&2
    exit 2
  fi
  jq -r --arg project "$name" --arg root "$corpus/" '
    .diagnostics[] | select(.severity == "error")
    | [$project, (.path | ltrimstr($root)), .line, .end_line, .rule, .message, .help] | @tsv' \
    "$work/$name.json" >> "$work/findings.tsv"
done

total=$(wc -l < "$work/findings.tsv")
if [ "$total" -eq 0 ]; then
  echo "review-sample: no error-level finding in the corpus" >&2
  exit 1
fi
# A seeded shuffle: a random key per finding (in the order lint reported them), sorted.
awk -v seed="$seed" 'BEGIN { srand(seed) } { printf "%.12f\t%s\n", rand(), $0 }' "$work/findings.tsv" |
  sort -t $'\t' -k1,1 | awk -v n="$n" 'NR <= n' | cut -f2- > "$work/sample.tsv"

echo "# Review sample: $(wc -l < "$work/sample.tsv") of $total error-level findings (seed $seed)"
echo
echo "Corpus: \`$corpus\`. Drawn again with: \`scripts/review-sample.sh $n $seed\`."
echo "Mark each finding **true** (the hazard is real here) or **false**, and say why."
echo
echo "| project | runner | errors | by rule |"
echo "|---|---|---|---|"
for entry in "${projects[@]}"; do IFS='|' read -r name runner _ <<< "$entry"; printf '%s\t%s\n' "$name" "$runner"; done > "$work/runners.tsv"
cut -f1,5 "$work/findings.tsv" | sort | uniq -c | awk -v runners="$work/runners.tsv" '
  BEGIN { while ((getline line < runners) > 0) { split(line, f, "\t"); runner[f[1]] = f[2] } }
  { project = $2; rule = $3; count[project] += $1; rules[project] = rules[project] sprintf("%s%s %d", (rules[project] == "" ? "" : ", "), rule, $1) }
  END { for (p in count) printf "| %s | %s | %d | %s |\n", p, runner[p], count[p], rules[p] }' | sort
echo

i=0
while IFS=$'\t' read -r project path line end_line rule message help; do
  i=$((i + 1))
  # jq's @tsv escapes tabs, newlines and backslashes.
  message="$(printf '%b' "$message")"
  help="$(printf '%b' "$help")"
  echo "## $i. \`$rule\` ($project)"
  echo
  echo "\`$path:$line\`"
  echo
  echo "> $message"
  echo ">"
  echo "> help: $help"
  echo
  # About 15 lines: a few before the statement, the statement (cut short when long), and after.
  from=$((line > 4 ? line - 4 : 1))
  to=$((end_line > line + 10 ? line + 10 : end_line))
  to=$((to < from + 14 ? from + 14 : to))
  echo '```sql'
  awk -v from="$from" -v to="$to" -v first="$line" -v last="$end_line" '
    NR >= from && NR <= to { printf "%5d %s %s\n", NR, (NR >= first && NR <= last ? ">" : " "), $0 }
    NR > to { exit }' "$corpus/$path"
  echo '```'
  echo
  echo "- [ ] true  - [ ] false  — why:"
  echo
done < "$work/sample.tsv"
