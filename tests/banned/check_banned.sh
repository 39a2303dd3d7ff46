#!/usr/bin/env bash
# The banned-function check STYLE.md § 7 promises, run by ctest
# (tests/CMakeLists.txt: banned_functions, and banned_selftest which proves
# it can fail).  Fails, naming file:line, on
#   - sprintf, vsprintf, strcpy, strcat, gets, strtok, atoi, atol, atoll,
#     atof and the scanf family (scanf, fscanf, sscanf, vscanf, ...);
#   - SQL built with a printf-family call into a string: snprintf, vsnprintf,
#     asprintf, vasprintf or ds_buf_appendf whose format string holds SELECT,
#     INSERT, UPDATE or DELETE (values go in as parameters, never into SQL).
# Comments are ignored, and string literals for the function names.  A call
# that splices only identifiers (a test's scratch table name) may carry the
# comment "check_banned: allow (<why>)" on its line or the line before.
# Usage: check_banned.sh FILE_OR_DIR...  (directories: every *.c and *.h
# below them; build*/ directories skipped).  Exit 0 clean, 1 findings,
# 2 usage.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 FILE_OR_DIR..." >&2; exit 2; }

files=()
for arg in "$@"; do
  if [ -d "$arg" ]; then
    while IFS= read -r -d '' f; do files+=("$f"); done < <(
      find "$arg" \( -name 'build*' -o -name .git \) -prune -o \
        -type f \( -name '*.c' -o -name '*.h' \) -print0 | sort -z)
  elif [ -f "$arg" ]; then
    files+=("$arg")
  else
    echo "check_banned: $arg: no such file or directory" >&2
    exit 2
  fi
done
[ ${#files[@]} -gt 0 ] || { echo "check_banned: no C files under $*" >&2; exit 2; }

exec perl -e '
use strict;
use warnings;
my $banned = qr/\b(sprintf|vsprintf|strcpy|strcat|gets|strtok|atoi|atol|atoll|atof|v?f?scanf|v?sscanf)\s*\(/;
my $printf = qr/\b(snprintf|vsnprintf|asprintf|vasprintf|ds_buf_appendf)\s*\(/;
my $sql = qr/\b(SELECT|INSERT|UPDATE|DELETE)\b/;
my $found = 0;
for my $file (@ARGV) {
  open(my $fh, "<", $file) or die "check_banned: $file: $!\n";
  local $/;
  my $text = <$fh>;
  close $fh;
  my @lines = split /\n/, $text, -1;
  my $allowed = sub {
    my $l = shift;
    return grep { defined && /check_banned: allow \(/ } @lines[$l - 1, $l - 2 >= 0 ? $l - 2 : $l - 1];
  };
  # Blank out comments (keeping newlines, so line numbers stay right),
  # leaving string literals alone.
  my $code = $text;
  $code =~ s{("(?:\\.|[^"\\\n])*")|(/\*.*?\*/)|(//[^\n]*)}{
    defined $1 ? $1 : ($2 // $3) =~ s/[^\n]/ /gr
  }gse;
  # The same with string literals blanked too, for the function names.
  (my $bare = $code) =~ s{"(?:\\.|[^"\\\n])*"}{q{""}}ge;
  while ($bare =~ /$banned/g) {
    my $line = 1 + (substr($bare, 0, $-[0]) =~ tr/\n//);
    print "$file:$line: banned function $1 (STYLE.md 7: snprintf with a truncation check, ds_buf, strtol/strtod)\n";
    $found++;
  }
  # A printf-family call: its text up to the end of the statement.
  while ($code =~ /$printf/g) {
    my ($start, $name) = ($-[0], $1);
    my $rest = substr($code, $start);
    $rest =~ s/;.*//s;
    my $strings = join("", $rest =~ /"((?:\\.|[^"\\\n])*)"/g);
    if ($strings =~ $sql) {
      my $line = 1 + (substr($code, 0, $start) =~ tr/\n//);
      next if $allowed->($line);
      print "$file:$line: SQL built with $name (\"$1\"): pass values as parameters (STYLE.md 7)\n";
      $found++;
    }
  }
}
if ($found) {
  print STDERR "check_banned: $found finding(s)\n";
  exit 1;
}
print "check_banned: ", scalar(@ARGV), " files clean\n";
' "${files[@]}"
