//go:build linux && cgo

package main

import (
	"flag"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

func init() {
	register(&command{
		name:    "completion",
		summary: "print a shell completion script: completion bash|zsh|fish",
		usage: "posixipc completion bash|zsh|fish\n" +
			"  bash: source <(posixipc completion bash); zsh: source <(posixipc completion zsh);\n" +
			"  fish: posixipc completion fish > ~/.config/fish/completions/posixipc.fish",
		run: runCompletion,
	})
	register(&command{
		name:    "man",
		summary: "print the manual page (roff): posixipc man > posixipc.1",
		usage:   "posixipc man   # then: man -l posixipc.1",
		run:     runMan,
	})
}

// The completion data come from the command table: the commands, the
// subcommands and flags named in each synopsis.
var (
	subRe  = regexp.MustCompile(`^[a-z][a-z-]*$`)
	flagRe = regexp.MustCompile(`(?:^|[\s\[|])(--?[a-z][a-z-]*)`)
)

// visible returns the commands that help lists, sorted.
func visible() []string {
	var names []string
	for n, c := range commands {
		if c.summary != "" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// synopsis splits a command's usage into its subcommands (in order) and
// the flags of each ("" for a command without subcommands).
func synopsis(c *command) (subs []string, flags map[string][]string) {
	flags = map[string][]string{}
	cur := ""
	for _, line := range strings.Split(c.usage, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "posixipc" && f[1] == c.name {
			cur = ""
			if len(f) >= 3 && subRe.MatchString(f[2]) {
				cur = f[2]
				if !slices.Contains(subs, cur) {
					subs = append(subs, cur)
				}
			}
		}
		for _, m := range flagRe.FindAllStringSubmatch(line, -1) {
			if m[1] != "--" && !slices.Contains(flags[cur], m[1]) {
				flags[cur] = append(flags[cur], m[1])
			}
		}
	}
	for k := range flags {
		if !slices.Contains(flags[k], "--help") {
			flags[k] = append(flags[k], "--help")
		}
	}
	return subs, flags
}

func runCompletion(args []string) error {
	pos, err := parseFlags(flag.NewFlagSet("completion", flag.ContinueOnError), args, 1, 1)
	if err != nil {
		return err
	}
	switch pos[0] {
	case "bash":
		fmt.Fprint(stdout, bashCompletion())
	case "zsh":
		fmt.Fprint(stdout, "# posixipc completion for zsh (through bash's)\nautoload -U +X bashcompinit && bashcompinit\n"+bashCompletion())
	case "fish":
		fmt.Fprint(stdout, fishCompletion())
	default:
		return usagef("shell %q: want bash, zsh or fish", pos[0])
	}
	return nil
}

func bashCompletion() string {
	var b strings.Builder
	b.WriteString("# posixipc completion for bash: source <(posixipc completion bash)\n")
	b.WriteString("_posixipc() {\n\tlocal cur=${COMP_WORDS[COMP_CWORD]} words=\n")
	b.WriteString("\tif [ \"$COMP_CWORD\" -eq 1 ]; then\n")
	fmt.Fprintf(&b, "\t\tCOMPREPLY=($(compgen -W %q -- \"$cur\"))\n\t\treturn\n\tfi\n", strings.Join(append(visible(), "help"), " "))
	b.WriteString("\tcase \"${COMP_WORDS[1]}\" in\n")
	for _, n := range visible() {
		subs, flags := synopsis(commands[n])
		fmt.Fprintf(&b, "\t%s)\n", n)
		if len(subs) > 0 {
			fmt.Fprintf(&b, "\t\tif [ \"$COMP_CWORD\" -eq 2 ]; then words=%q\n\t\telse case \"${COMP_WORDS[2]}\" in\n", strings.Join(subs, " "))
			for _, s := range subs {
				fmt.Fprintf(&b, "\t\t\t%s) words=%q ;;\n", s, strings.Join(flags[s], " "))
			}
			b.WriteString("\t\tesac; fi ;;\n")
		} else {
			fmt.Fprintf(&b, "\t\twords=%q ;;\n", strings.Join(flags[""], " "))
		}
	}
	b.WriteString("\tesac\n\tCOMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n\t[ ${#COMPREPLY[@]} -eq 0 ] && COMPREPLY=($(compgen -f -- \"$cur\"))\n}\n")
	b.WriteString("complete -F _posixipc posixipc\n")
	return b.String()
}

func fishCompletion() string {
	var b strings.Builder
	b.WriteString("# posixipc completion for fish\ncomplete -c posixipc -f\n")
	for _, n := range visible() {
		c := commands[n]
		fmt.Fprintf(&b, "complete -c posixipc -n __fish_use_subcommand -a %s -d %q\n", n, c.summary)
		subs, flags := synopsis(c)
		for _, s := range subs {
			fmt.Fprintf(&b, "complete -c posixipc -n '__fish_seen_subcommand_from %s; and not __fish_seen_subcommand_from %s' -a %s\n", n, strings.Join(subs, " "), s)
		}
		for sub, fl := range flags {
			cond := "__fish_seen_subcommand_from " + n
			if sub != "" {
				cond += "; and __fish_seen_subcommand_from " + sub
			}
			for _, f := range fl {
				if strings.HasPrefix(f, "--") {
					fmt.Fprintf(&b, "complete -c posixipc -n '%s' -l %s\n", cond, f[2:])
				} else {
					fmt.Fprintf(&b, "complete -c posixipc -n '%s' -s %s\n", cond, f[1:])
				}
			}
		}
	}
	return b.String()
}

// roff escapes text for a man page line.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

func runMan(args []string) error {
	if _, err := parseFlags(flag.NewFlagSet("man", flag.ContinueOnError), args, 0, 0); err != nil {
		return err
	}
	w := stdout
	fmt.Fprintf(w, ".TH POSIXIPC 1 \"\" \"posixipc %s\" \"User Commands\"\n", roff(moduleVersion()))
	fmt.Fprintln(w, ".SH NAME\nposixipc \\- inspect and drive POSIX and System V IPC objects from a shell")
	fmt.Fprintln(w, ".SH SYNOPSIS\n.B posixipc\n.I COMMAND\n[\n.I ARGS\n]")
	fmt.Fprintln(w, ".SH DESCRIPTION")
	fmt.Fprintln(w, roff("posixipc shows and drives the IPC objects that Go and C programs share: message queues, semaphores, shared memory, process-shared mutexes, FIFOs and file locks. Object names may be given with or without the leading '/'. Every command takes --help."))
	fmt.Fprintln(w, ".SH COMMANDS")
	for _, n := range visible() {
		c := commands[n]
		fmt.Fprintf(w, ".TP\n.B %s\n%s\n.PP\n.nf\n", roff(n), roff(c.summary))
		for _, line := range strings.Split(c.usage, "\n") {
			fmt.Fprintln(w, roff(line))
		}
		fmt.Fprintln(w, ".fi")
	}
	fmt.Fprintln(w, ".SH EXIT STATUS\n0 on success, 1 on an error (the message goes to standard error), 2 on a usage error, 75 (EX_TEMPFAIL) when a timeout expires or a call would block.")
	fmt.Fprintln(w, ".SH SEE ALSO\n.BR lsipc (1),\n.BR ipcs (1),\n.BR ipcmk (1),\n.BR ipcrm (1),\n.BR mq_overview (7),\n.BR sem_overview (7),\n.BR shm_overview (7),\n.BR flock (1)")
	return nil
}
