package envfile

import "strings"

// ShellNames are the names that a step's /bin/sh treats as read-only
// or special: the loader cannot assign them (bash's read-only names
// fail its eval, and the step exits before any command), or the shell
// sets, computes or reads them itself at start-up, so a value assigned
// later reads differently from one the shell inherited. Such a name
// stays in the container env whatever the shell: /bin/sh is dash on
// Debian and Ubuntu images, busybox ash on Alpine and busybox images,
// bash on RHEL/UBI, Fedora, Amazon Linux and Arch images (bash started
// as sh runs in POSIX mode). Each entry names its source; the names
// marked measured are those where moving changed what the shell sees
// (TestShellNamesMeasured runs the comparison on every shell present).
//
// PATH is special to all of them, yet moves: a shell reads it only to
// find commands, and the shell loader runs builtins alone, so the
// step sees the same PATH either way. (The static loader finds its
// entrypoint through PATH before it loads: the webhook keeps PATH for
// it.)
var ShellNames = []struct {
	Shell, Source string
	Names         []string
}{
	{"POSIX sh", "POSIX.1-2017 XCU 2.5.3 Shell Variables; cd (CDPATH, OLDPWD); getopts (OPTARG, OPTIND)", []string{
		"ENV", "HOME", "IFS", "LANG", "LINENO", "NLSPATH", "PPID", "PS1", "PS2", "PS4", "PWD",
		"CDPATH", "OLDPWD", "OPTARG", "OPTIND",
	}},
	{"dash 0.5.12", "src/var.c varinit (IFS, MAIL, MAILPATH, PATH, PS1, PS2, PS4, OPTIND, LINENO, HISTSIZE), initvar (PPID), src/cd.c (PWD); measured: IFS, OPTIND, PWD", []string{
		"IFS", "MAIL", "MAILPATH", "PS1", "PS2", "PS4", "OPTIND", "LINENO", "HISTSIZE", "PPID", "PWD",
	}},
	{"busybox ash 1.35", "shell/ash.c varinit_data (IFS, MAIL, MAILPATH, PATH, PS1, PS2, PS4, OPTIND, LINENO, RANDOM, EPOCHSECONDS, EPOCHREALTIME, LC_ALL, LC_CTYPE, HISTFILE), init (PPID, PWD, SHLVL incremented, HOSTNAME); measured: IFS, OPTIND, PWD, SHLVL", []string{
		"IFS", "MAIL", "MAILPATH", "PS1", "PS2", "PS4", "OPTIND", "LINENO", "RANDOM", "EPOCHSECONDS", "EPOCHREALTIME",
		"LC_ALL", "LC_CTYPE", "HISTFILE", "PPID", "PWD", "SHLVL", "HOSTNAME",
	}},
	{"bash 5.2 as sh", "Bash Reference Manual 5.2, 5.2 Bash Variables; variables.c initialize_shell_variables and initialize_dynamic_variables. Read-only (measured: the loader's eval fails): BASHOPTS, BASH_VERSINFO, EUID, PPID, SHELLOPTS, UID. Measured: BASH*, DIRSTACK, EPOCHREALTIME, FUNCNAME, GROUPS, HISTCMD, IFS, IGNOREEOF, LINENO, OLDPWD, OPTERR, OPTIND, POSIXLY_CORRECT, PS1, PS2, PS4, PWD, RANDOM, SHLVL, SRANDOM, COMP_WORDBREAKS", []string{
		"BASHOPTS", "BASH_VERSINFO", "EUID", "PPID", "SHELLOPTS", "UID",
		"BASH", "BASHPID", "BASH_ALIASES", "BASH_ARGC", "BASH_ARGV", "BASH_ARGV0", "BASH_CMDS", "BASH_COMMAND", "BASH_COMPAT",
		"BASH_ENV", "BASH_EXECUTION_STRING", "BASH_LINENO", "BASH_LOADABLES_PATH", "BASH_MONOSECONDS", "BASH_REMATCH",
		"BASH_SOURCE", "BASH_SUBSHELL", "BASH_TRAPSIG", "BASH_VERSION", "BASH_XTRACEFD",
		"COMP_WORDBREAKS", "DIRSTACK", "EPOCHREALTIME", "EPOCHSECONDS", "FUNCNAME", "GROUPS", "HISTCMD", "HOSTNAME",
		"HOSTTYPE", "IFS", "IGNOREEOF", "LINENO", "MACHTYPE", "OLDPWD", "OPTERR", "OPTIND", "OSTYPE", "PIPESTATUS",
		"POSIXLY_CORRECT", "PS1", "PS2", "PS4", "PWD", "RANDOM", "SECONDS", "SHLVL", "SRANDOM", "_",
	}},
}

// shellPrefixes are prefixes of special names: the locale's LC_*, and
// bash's BASH* (the manual reserves them; new versions add more).
var shellPrefixes = []string{"LC_", "BASH"}

var shellNames = func() map[string]bool {
	names := map[string]bool{}
	for _, s := range ShellNames {
		for _, n := range s.Names {
			names[n] = true
		}
	}
	return names
}()

// ShellSpecial says whether any of the shells treats name as read-only
// or special.
func ShellSpecial(name string) bool {
	if shellNames[name] {
		return true
	}
	for _, p := range shellPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
