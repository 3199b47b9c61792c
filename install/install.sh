#!/usr/bin/env bash
# install/install.sh: installs gitsign for real use, for the current user.
#
#   install/install.sh [--root DIR] [--prebuilt DIR] [--no-git-config] [--no-service]
#   install/install.sh --uninstall
#
# What it does, saying each step as it happens:
#   1. `cargo install --locked` of gitsign and gitsign-credential-cache from
#      this checkout into ROOT/bin (ROOT: --root, else $CARGO_INSTALL_ROOT,
#      else $CARGO_HOME, else ~/.cargo); --prebuilt DIR copies the two
#      binaries from DIR instead (e.g. target/release after a build).
#   2. the credential cache as a user service: a systemd socket unit where a
#      systemd user manager runs, a launchd agent on macOS; elsewhere it says
#      how to start the daemon (--no-service skips this step).
#   3. shell completions (bash; zsh and fish when installed) and the manual
#      pages (ROOT/share/man/man1, which man finds beside ROOT/bin on PATH).
#   4. git's global settings gpg.format=x509 and gpg.x509.program=gitsign
#      (--no-git-config skips this step). A setting that has another value
#      is replaced, saying so; --uninstall puts the old value back.
#   5. prints `gitsign version` and the next step.
#
# Running it again is harmless (and upgrades). What it creates or changes is
# recorded in ${XDG_DATA_HOME:-~/.local/share}/gitsign/install-manifest, and
# --uninstall undoes exactly that: binaries, service, completions, manual
# pages, the directories it created, and the git settings it changed
# (unless you changed them since). Exit status: 0 done; 1 a step failed
# (said); 2 usage, or something it needs is missing.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() { sed -n '2,29p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
say() { printf 'install.sh: %s\n' "$*"; }
die() { # status sentence
  local code="$1"
  shift
  printf 'install.sh: %s\n' "$*" >&2
  exit "$code"
}

root="" prebuilt="" git_config=1 service=1 uninstall=0
while [ $# -gt 0 ]; do
  case "$1" in
    --root)
      [ $# -ge 2 ] || die 2 "--root needs a directory"
      root="$2"
      shift
      ;;
    --root=*) root="${1#*=}" ;;
    --prebuilt)
      [ $# -ge 2 ] || die 2 "--prebuilt needs a directory"
      prebuilt="$2"
      shift
      ;;
    --prebuilt=*) prebuilt="${1#*=}" ;;
    --no-git-config) git_config=0 ;;
    --no-service) service=0 ;;
    --uninstall) uninstall=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die 2 "unknown option $1 (install/install.sh --help lists them)" ;;
  esac
  shift
done

{ [ -n "${HOME:-}" ] && [ -d "$HOME" ]; } || die 2 "HOME is not set to a directory"
no_tab_or_newline() { # what value
  case "$2" in *$'\n'* | *$'\t'*) die 2 "$1 contains a tab or a newline; install.sh cannot record such paths" ;; esac
}
no_tab_or_newline HOME "$HOME"
data_home="${XDG_DATA_HOME:-$HOME/.local/share}"
config_home="${XDG_CONFIG_HOME:-$HOME/.config}"
no_tab_or_newline XDG_DATA_HOME "$data_home"
no_tab_or_newline XDG_CONFIG_HOME "$config_home"
manifest="$data_home/gitsign/install-manifest"
git_global="${GIT_CONFIG_GLOBAL:-$HOME/.gitconfig}"

# --- the manifest: one record per line, fields separated by a tab -----------
#   dir PATH            a directory install.sh created
#   file PATH           a file it wrote
#   cargo ROOT          binaries cargo installed under ROOT
#   cargo-list PATH     cargo's list of installed packages, created by it
#   service KIND        systemd or launchd
#   git KEY OLD         a global git setting it changed; OLD: "-" (unset) or "=value"
#   set KEY VALUE       the value it gave KEY
#   git-section NAME    a git config section it created
#   git-file PATH       the global git config file, which it created
records=()
if [ -f "$manifest" ]; then
  while IFS= read -r line; do records+=("$line"); done <"$manifest"
fi
TAB=$'\t'
recorded() { # record: is it in the manifest?
  local r
  for r in ${records[@]+"${records[@]}"}; do [ "$r" = "$1" ] && return 0; done
  return 1
}
record_of() { # prefix: prints the first record starting with it
  local r
  for r in ${records[@]+"${records[@]}"}; do
    case "$r" in "$1"*)
      printf '%s' "$r"
      return 0
      ;;
    esac
  done
  return 1
}
record() { # fields...
  local IFS="$TAB" r
  r="$*"
  case "$r" in *$'\n'*) die 1 "cannot record \"$r\" in the manifest (it contains a newline)" ;; esac
  recorded "$r" && return 0
  records+=("$r")
  save_manifest
}
forget() { # prefix: drops the records starting with it
  local kept=() r
  for r in ${records[@]+"${records[@]}"}; do
    case "$r" in "$1"*) ;; *) kept+=("$r") ;; esac
  done
  records=(${kept[@]+"${kept[@]}"})
}
save_manifest() {
  local dir
  dir="$(dirname "$manifest")"
  [ -d "$dir" ] || make_dir "$dir"
  { printf '%s\n' "${records[@]}" >"$manifest.tmp.$$" && mv -f "$manifest.tmp.$$" "$manifest"; } ||
    die 1 "cannot write $manifest"
}
# make_dir DIR: mkdir -p, recording each directory it creates.
make_dir() {
  local d="$1" missing=() p
  while [ ! -d "$d" ]; do
    missing=("$d" ${missing[@]+"${missing[@]}"})
    d="$(dirname "$d")"
  done
  for p in ${missing[@]+"${missing[@]}"}; do
    mkdir "$p" || die 1 "cannot create the directory $p"
    # Recorded once the manifest's own directory exists.
    made_dirs+=("$p")
  done
  if [ -d "$(dirname "$manifest")" ]; then
    local todo=(${made_dirs[@]+"${made_dirs[@]}"})
    made_dirs=()
    for p in ${todo[@]+"${todo[@]}"}; do record dir "$p"; done
  fi
}
made_dirs=()
# write_file PATH: stdin to PATH (replacing it), recorded.
write_file() {
  [ "$BASHPID" = "$$" ] || die 1 "internal error: write_file $1 ran in a subshell, so it would not be recorded"
  make_dir "$(dirname "$1")"
  if [ -e "$1" ] && ! recorded "file$TAB$1"; then
    say "replacing $1 (not written by install.sh; --uninstall removes it)"
  fi
  { cat >"$1.tmp.$$" && mv -f "$1.tmp.$$" "$1"; } || die 1 "cannot write $1"
  record file "$1"
}

has_systemd_user() {
  command -v systemctl >/dev/null 2>&1 && systemctl --user show-environment >/dev/null 2>&1
}

# A regular expression for the names of the keys directly in SECTION.
section_keys_re() {
  printf '^%s\\.[^.]*$' "$(printf '%s' "$1" | sed 's/[]\\.[*^$]/\\&/g')"
}
section_is_empty() {
  ! git config --global --list --name-only 2>/dev/null | grep -q "$(section_keys_re "$1")"
}

# ===========================================================================
uninstall() {
  if [ ! -f "$manifest" ]; then
    say "nothing to uninstall: $manifest does not exist (install.sh records there what it installs)"
    exit 0
  fi
  local i kind a b current ours
  # The service first, while its binary is still there.
  for ((i = ${#records[@]} - 1; i >= 0; i--)); do
    IFS="$TAB" read -r kind a b <<<"${records[$i]}"
    [ "$kind" = service ] || continue
    if [ "$a" = systemd ]; then
      if has_systemd_user; then
        systemctl --user disable --now gitsign-credential-cache.socket >/dev/null 2>&1 || true
        systemctl --user stop gitsign-credential-cache.service >/dev/null 2>&1 || true
        say "stopped and disabled the systemd user units"
      else
        say "no systemd user manager answers: removing the units without stopping them"
      fi
    elif [ "$a" = launchd ]; then
      launchctl bootout "gui/$(id -u)/dev.sigstore.gitsign-credential-cache" >/dev/null 2>&1 || true
      say "unloaded the launchd agent"
    fi
  done
  for ((i = ${#records[@]} - 1; i >= 0; i--)); do
    IFS="$TAB" read -r kind a b <<<"${records[$i]}"
    case "$kind" in
      file)
        if [ -e "$a" ] || [ -L "$a" ]; then
          rm -f "$a" || die 1 "cannot remove $a"
          say "removed $a"
        fi
        ;;
      cargo)
        local pkg
        for pkg in gitsign-credential-cache gitsign; do
          [ -e "$a/bin/$pkg" ] || continue
          if command -v cargo >/dev/null 2>&1 && cargo uninstall --quiet --root "$a" "$pkg" 2>/dev/null; then
            say "cargo uninstall --root $a $pkg"
          else
            rm -f "$a/bin/$pkg" || die 1 "cannot remove $a/bin/$pkg"
            say "removed $a/bin/$pkg"
          fi
        done
        ;;
      git)
        current="$(git config --global --get "$a" 2>/dev/null || true)"
        ours=no
        recorded "set$TAB$a$TAB$current" && ours=yes
        if [ "$ours" = no ]; then
          [ -z "$current" ] || say "left git setting $a = $current alone (changed since install.sh set it)"
        elif [ "$b" = "-" ]; then
          git config --global --unset "$a" || die 1 "git config --global --unset $a failed"
          say "git config --global --unset $a"
        else
          git config --global "$a" "${b#=}" || die 1 "git config --global $a ${b#=} failed"
          say "git config --global $a ${b#=} (its value before install.sh)"
        fi
        ;;
      git-section)
        if section_is_empty "$a"; then git config --global --remove-section "$a" 2>/dev/null || true; fi
        ;;
      git-file)
        if [ -f "$a" ] && [ ! -s "$a" ]; then rm -f "$a"; fi
        ;;
    esac
  done
  # cargo's lists of installed packages it created, once they list none.
  for ((i = ${#records[@]} - 1; i >= 0; i--)); do
    IFS="$TAB" read -r kind a b <<<"${records[$i]}"
    if [ "$kind" = cargo-list ] && [ -f "$a" ] && ! grep -q '(' "$a"; then rm -f "$a"; fi
  done
  if recorded "service${TAB}systemd" && has_systemd_user; then
    systemctl --user daemon-reload >/dev/null 2>&1 || true
  fi
  rm -f "$manifest"
  # Directories it created, deepest first, when nothing else is in them.
  for ((i = ${#records[@]} - 1; i >= 0; i--)); do
    IFS="$TAB" read -r kind a b <<<"${records[$i]}"
    if [ "$kind" = dir ] && [ -d "$a" ]; then
      rmdir "$a" 2>/dev/null || say "kept $a: it holds files install.sh did not put there"
    fi
  done
  say "uninstalled"
}

if [ "$uninstall" = 1 ]; then
  uninstall
  exit 0
fi

# ===========================================================================
# 1. binaries
[ -n "$root" ] || root="${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}"
case "$root" in /*) ;; *) root="$PWD/$root" ;; esac
no_tab_or_newline "the install root" "$root"
bindir="$root/bin"
# What is needed, before anything is written.
if [ -n "$prebuilt" ]; then
  for b in gitsign gitsign-credential-cache; do
    { [ -x "$prebuilt/$b" ] && [ -f "$prebuilt/$b" ]; } ||
      die 2 "$prebuilt/$b is missing or not executable (--prebuilt names the directory holding both binaries, e.g. target/release)"
  done
else
  command -v cargo >/dev/null 2>&1 ||
    die 2 "cargo is not installed: install Rust (https://rustup.rs), or pass --prebuilt DIR with both binaries built elsewhere"
fi
[ "$git_config" = 0 ] || command -v git >/dev/null 2>&1 ||
  die 2 "git is not installed (or pass --no-git-config)"
make_dir "$(dirname "$manifest")"

if [ -n "$prebuilt" ]; then
  make_dir "$bindir"
  for b in gitsign gitsign-credential-cache; do
    { install -m 0755 "$prebuilt/$b" "$bindir/$b.tmp.$$" && mv -f "$bindir/$b.tmp.$$" "$bindir/$b"; } ||
      die 1 "cannot copy $prebuilt/$b to $bindir"
    record file "$bindir/$b"
  done
  say "installed gitsign and gitsign-credential-cache in $bindir (copied from $prebuilt)"
else
  new_lists=()
  for list in .crates.toml .crates2.json; do
    [ -e "$root/$list" ] || new_lists+=("$root/$list")
  done
  make_dir "$bindir"
  for pkg in "$repo" "$repo/credential-cache"; do
    say "cargo install --locked --path $pkg --root $root"
    cargo install --locked --quiet --path "$pkg" --root "$root" ||
      die 1 "cargo install --locked --path $pkg failed (cargo said why above)"
  done
  record cargo "$root"
  for list in ${new_lists[@]+"${new_lists[@]}"}; do
    [ -e "$list" ] && record cargo-list "$list"
  done
  say "installed gitsign and gitsign-credential-cache in $bindir"
fi
gitsign="$bindir/gitsign"
daemon="$bindir/gitsign-credential-cache"
# --help: runs the program without reading any configuration.
"$gitsign" --help >/dev/null 2>&1 || die 1 "$gitsign does not run"

on_path=0
found="$(command -v gitsign 2>/dev/null || true)"
if [ "$found" = "$gitsign" ]; then
  on_path=1
elif [ -n "$found" ]; then
  say "note: another gitsign comes first on your PATH ($found); put $bindir before it"
else
  say "note: $bindir is not on your PATH; add it, e.g. export PATH=\"$bindir:\$PATH\" in ~/.profile"
fi

# 2. the cache service
if [ "$service" = 0 ]; then
  say "no service installed (--no-service): start the cache daemon yourself ($daemon)"
elif [ "$(uname -s)" = Darwin ]; then
  plist="$HOME/Library/LaunchAgents/dev.sigstore.gitsign-credential-cache.plist"
  esc="${daemon//&/&amp;}"
  esc="${esc//</&lt;}"
  # (Process substitution, not a pipe: write_file records in this shell.)
  write_file "$plist" < <(
    while IFS= read -r line; do
      printf '%s\n' "${line//\/usr\/local\/bin\/gitsign-credential-cache/$esc}"
    done <"$repo/install/dev.sigstore.gitsign-credential-cache.plist"
  )
  record service launchd
  launchctl bootout "gui/$(id -u)/dev.sigstore.gitsign-credential-cache" >/dev/null 2>&1 || true
  launchctl bootstrap "gui/$(id -u)" "$plist" ||
    die 1 "launchctl bootstrap gui/$(id -u) $plist failed; install/README.md (launchd) shows the steps"
  say "the credential cache runs as a launchd agent ($plist)"
elif has_systemd_user; then
  units="$config_home/systemd/user"
  write_file "$units/gitsign-credential-cache.socket" <"$repo/install/gitsign-credential-cache.socket"
  quoted="${daemon//%/%%}"
  quoted="\"${quoted//\"/\\\"}\""
  write_file "$units/gitsign-credential-cache.service" < <(
    while IFS= read -r line; do
      case "$line" in
        ExecStart=*) printf 'ExecStart=%s --systemd\n' "$quoted" ;;
        *) printf '%s\n' "$line" ;;
      esac
    done <"$repo/install/gitsign-credential-cache.service"
  )
  record service systemd
  systemctl --user daemon-reload || die 1 "systemctl --user daemon-reload failed"
  systemctl --user enable --now gitsign-credential-cache.socket ||
    die 1 "systemctl --user enable --now gitsign-credential-cache.socket failed; install/README.md (systemd) shows the steps"
  # A daemon of an earlier release speaks another protocol: restart it.
  systemctl --user try-restart gitsign-credential-cache.service >/dev/null 2>&1 || true
  say "the credential cache starts on first use (systemd user socket gitsign-credential-cache.socket)"
else
  say "no systemd user manager and no launchd here: start the credential cache yourself, e.g. in"
  say "  your session's startup file: $daemon   (it detaches; install/README.md has the details)"
fi

# 3. completions and manual pages
completion() { # shell file
  local script
  script="$("$gitsign" completions "$1")" || die 1 "gitsign completions $1 failed"
  write_file "$2" < <(printf '%s\n' "$script")
}
completion bash "$data_home/bash-completion/completions/gitsign"
say "bash completion: $data_home/bash-completion/completions/gitsign (bash-completion loads it)"
if command -v zsh >/dev/null 2>&1; then
  completion zsh "$data_home/zsh/site-functions/_gitsign"
  say "zsh completion: $data_home/zsh/site-functions/_gitsign (add fpath+=($data_home/zsh/site-functions) before compinit in ~/.zshrc)"
fi
if command -v fish >/dev/null 2>&1; then
  completion fish "$config_home/fish/completions/gitsign.fish"
  say "fish completion: $config_home/fish/completions/gitsign.fish"
fi
mandir="$root/share/man/man1"
make_dir "$mandir"
pages="$("$gitsign" man "$mandir")" || die 1 "gitsign man $mandir failed"
count=0
while IFS= read -r page; do
  record file "$page"
  count=$((count + 1))
done <<<"$pages"
say "$count manual pages in $mandir (man gitsign, man gitsign-verify, man gitsign-credential-cache, ...)"

# 4. git's global settings
if [ "$git_config" = 0 ]; then
  say "git's settings left alone (--no-git-config); gitsign signs once you run"
  say "  git config --global gpg.format x509 && git config --global gpg.x509.program gitsign"
else
  [ -e "$git_global" ] || [ -e "$config_home/git/config" ] || record git-file "$git_global"
  program=gitsign
  [ "$on_path" = 1 ] || program="$gitsign"
  for setting in "gpg.format=x509" "gpg.x509.program=$program"; do
    key="${setting%%=*}" want="${setting#*=}"
    no_tab_or_newline "$key" "$want"
    current="$(git config --global --get "$key" 2>/dev/null || true)"
    if [ "$current" = "$want" ]; then
      say "git config --global $key is already $want"
      continue
    fi
    section="${key%.*}"
    section_is_empty "$section" && record git-section "$section"
    # The value before install.sh first touched it is the one to restore.
    if ! record_of "git$TAB$key$TAB" >/dev/null; then
      if [ -z "$current" ]; then record git "$key" "-"; else record git "$key" "=$current"; fi
    fi
    git config --global "$key" "$want" || die 1 "git config --global $key $want failed"
    forget "set$TAB$key$TAB"
    record set "$key" "$want"
    if [ -z "$current" ]; then
      say "git config --global $key $want"
    else
      say "git config --global $key $want (it was $current; install.sh --uninstall puts that back)"
    fi
  done
fi

# 5. done
echo
printf '$ gitsign version\n'
"$gitsign" version || die 1 "$gitsign version failed: the configuration above is not usable"
cat <<EOF

Next: in a repository, sign a commit and check it:
    git commit -S -m "..."        # or: git config --global commit.gpgsign true
    git verify-commit HEAD
and say whose signatures you trust (README.md, "Verify"; docs/configuration.md):
    git config --global gitsign.certificateIdentity you@example.com
    git config --global gitsign.certificateOidcIssuer https://accounts.google.com
To undo all of this: install/install.sh --uninstall
EOF
