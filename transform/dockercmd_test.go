package transform

import (
	"reflect"
	"strings"
	"testing"
)

// dockerUse is what the remote-daemon checks read from one docker
// invocation.
type dockerUse struct {
	subcommand string
	hostMounts []string
	network    string // a --network container:NAME value
	publishes  bool
}

func TestDockerCalls(t *testing.T) {
	run := func(mounts ...string) dockerUse { return dockerUse{subcommand: "run", hostMounts: mounts} }
	tests := []struct {
		name  string
		lines []string
		want  []dockerUse
	}{
		{name: "no docker at all", lines: []string{"go test ./...", "echo docker run -v /a:/b img"}},
		{name: "bind mount of $PWD", lines: []string{"docker run -v $PWD:/src golang:1.22 go test"}, want: []dockerUse{run("$PWD:/src")}},
		{name: "bind mount of a quoted $(pwd)", lines: []string{`docker run -v "$(pwd)":/w img`}, want: []dockerUse{run("$(pwd):/w")}},
		{name: "bind mount of ${DRONE_WORKSPACE}", lines: []string{`docker run --rm -v "${DRONE_WORKSPACE}:/w" img`}, want: []dockerUse{run("${DRONE_WORKSPACE}:/w")}},
		{name: "--volume= joined to its value", lines: []string{"docker run --volume=/x:/y img"}, want: []dockerUse{run("/x:/y")}},
		{name: "--volume with its value apart", lines: []string{"docker run --volume /x:/y:ro img"}, want: []dockerUse{run("/x:/y:ro")}},
		{name: "relative path is a host path", lines: []string{"docker run -v ./data:/data img"}, want: []dockerUse{run("./data:/data")}},
		{name: "the Docker socket", lines: []string{"docker run -v /var/run/docker.sock:/var/run/docker.sock img"}, want: []dockerUse{run("/var/run/docker.sock:/var/run/docker.sock")}},
		{name: "--use-api-socket mounts the daemon's socket", lines: []string{"docker run --use-api-socket img docker ps"}, want: []dockerUse{run("/var/run/docker.sock (--use-api-socket)")}},
		{name: "--use-api-socket=false mounts nothing", lines: []string{"docker run --use-api-socket=false img"}, want: []dockerUse{run()}},
		{name: "named volume is not a host mount", lines: []string{"docker run -v named:/data img"}, want: []dockerUse{run()}},
		{name: "named volume with dots and dashes", lines: []string{"docker run -v cache.go-mod_1:/go/pkg img"}, want: []dockerUse{run()}},
		{name: "anonymous volume (no colon) is not a host mount", lines: []string{"docker run -v /anon img"}, want: []dockerUse{run()}},
		{name: "--mount type=bind", lines: []string{"docker run --mount type=bind,src=.,dst=/x img"}, want: []dockerUse{run("type=bind,src=.,dst=/x")}},
		{name: "--mount= type=bind last", lines: []string{"docker run --mount=src=/a,dst=/x,type=bind img"}, want: []dockerUse{run("src=/a,dst=/x,type=bind")}},
		{name: "--mount of a volume is not a host mount", lines: []string{"docker run --mount type=volume,src=data,dst=/x img"}, want: []dockerUse{run()}},
		{name: "combined boolean short flags", lines: []string{"docker run -dit -v /a:/b img"}, want: []dockerUse{run("/a:/b")}},
		{name: "-it then -v", lines: []string{"docker run -it -v /a:/b img sh"}, want: []dockerUse{run("/a:/b")}},
		{name: "value flag last in a combined word", lines: []string{"docker run -itv /a:/b img"}, want: []dockerUse{run("/a:/b")}},
		{name: "value joined to a short flag", lines: []string{"docker run -v/a:/b img"}, want: []dockerUse{run("/a:/b")}},
		{name: "flags after the image are the container's", lines: []string{"docker run img cp -v /a:/b"}, want: []dockerUse{run()}},
		{name: "flags after -- are the container's", lines: []string{"docker run --rm -- img -v /a:/b"}, want: []dockerUse{run()}},
		{name: "value flags before the image do not end the flags", lines: []string{"docker run -e A=1 --name x -w /w -v /a:/b img"}, want: []dockerUse{run("/a:/b")}},
		{name: "sh -c runs docker as surely", lines: []string{`sh -c 'docker run -v $PWD:/src img'`}, want: []dockerUse{run("$PWD:/src")}},
		{name: "bash -ec in double quotes", lines: []string{`bash -ec "cd app && docker run -v /a:/b img"`}, want: []dockerUse{run("/a:/b")}},
		{name: "--mount Type=Bind in capitals", lines: []string{"docker run --mount Type=Bind,src=/a,dst=/x img"}, want: []dockerUse{run("Type=Bind,src=/a,dst=/x")}},
		{name: "docker container run", lines: []string{"docker container run -v /a:/b img"}, want: []dockerUse{run("/a:/b")}},
		{name: "docker create", lines: []string{"docker create -v /a:/b img"}, want: []dockerUse{{subcommand: "create", hostMounts: []string{"/a:/b"}}}},
		{name: "global flags before run", lines: []string{"docker -H tcp://d:2375 --log-level debug run -v /a:/b img"}, want: []dockerUse{run("/a:/b")}},
		{name: "sudo", lines: []string{"sudo docker run -v /a:/b img"}, want: []dockerUse{run("/a:/b")}},
		{name: "sudo with a flag", lines: []string{"sudo -E docker run -v /a:/b img"}, want: []dockerUse{run("/a:/b")}},
		{name: "env with assignments", lines: []string{"env A=1 B=2 docker run -v /a:/b img"}, want: []dockerUse{run("/a:/b")}},
		{name: "an assignment before the command", lines: []string{"FOO=1 docker run -v /a:/b img"}, want: []dockerUse{run("/a:/b")}},
		{name: "sudo -u with its value", lines: []string{"sudo -u builder docker run -v /a:/b img"}, want: []dockerUse{run("/a:/b")}},
		{name: "sudo --user= joined", lines: []string{"sudo --user=builder -E docker run -v /a:/b img"}, want: []dockerUse{run("/a:/b")}},
		{name: "env -u with its value", lines: []string{"env -u DOCKER_TLS_VERIFY docker run -v /a:/b img"}, want: []dockerUse{run("/a:/b")}},
		{name: "timeout and its duration", lines: []string{"timeout 600 docker run -v /a:/b img"}, want: []dockerUse{run("/a:/b")}},
		{name: "timeout with a signal", lines: []string{"timeout -s KILL 10m docker run -v /a:/b img"}, want: []dockerUse{run("/a:/b")}},
		{name: "nohup", lines: []string{"nohup docker run -v /a:/b img &"}, want: []dockerUse{run("/a:/b")}},
		{name: "wrappers in a row, by path", lines: []string{"/usr/bin/sudo env A=1 nice -n 5 docker run -v /a:/b img"}, want: []dockerUse{run("/a:/b")}},
		{name: "docker by its path", lines: []string{"/usr/local/bin/docker run -v /a:/b img"}, want: []dockerUse{run("/a:/b")}},
		{name: "docker-compose by its path", lines: []string{"/usr/local/bin/docker-compose up"}, want: []dockerUse{{subcommand: "compose"}}},
		{name: "command runs docker", lines: []string{"command docker run -v /a:/b img"}, want: []dockerUse{run("/a:/b")}},
		{name: "command -v only looks docker up", lines: []string{"command -v docker >/dev/null || apk add docker-cli"}},
		{name: "command -V only looks docker up", lines: []string{"if ! command -V docker; then exit 1; fi"}},
		{name: "a wrapper alone", lines: []string{"sudo", "env A=1"}},
		{name: "exec", lines: []string{"exec docker run -v /a:/b img"}, want: []dockerUse{run("/a:/b")}},
		{name: "time", lines: []string{"time docker run -v /a:/b img"}, want: []dockerUse{run("/a:/b")}},
		{name: "quoted command name", lines: []string{`"docker" run -v /a:/b img`}, want: []dockerUse{run("/a:/b")}},
		{name: "inside if", lines: []string{`if [ -n "$CI" ]; then docker run -v /a:/b img; fi`}, want: []dockerUse{run("/a:/b")}},
		{name: "inside a loop", lines: []string{"for i in 1 2; do docker run -v /a:/b img; done"}, want: []dockerUse{run("/a:/b")}},
		{name: "after && and ||", lines: []string{"make && docker push x || docker logout"}, want: []dockerUse{{subcommand: "push"}, {subcommand: "logout"}}},
		{name: "both ends of a pipe", lines: []string{"docker save img | docker load"}, want: []dockerUse{{subcommand: "save"}, {subcommand: "load"}}},
		{name: "command substitution", lines: []string{"docker rm -f $(docker ps -q)"}, want: []dockerUse{{subcommand: "rm"}, {subcommand: "ps"}}},
		{name: "one call per line, in order", lines: []string{"docker build -t x .", "docker run -v /a:/b x"}, want: []dockerUse{{subcommand: "build"}, run("/a:/b")}},
		{name: "docker build has no run flags", lines: []string{"docker build -v /a:/b -t x ."}, want: []dockerUse{{subcommand: "build"}}},
		{name: "docker exec -v is not a mount", lines: []string{"docker exec -e A=1 x ls -v /a:/b"}, want: []dockerUse{{subcommand: "exec"}}},
		{name: "docker-compose up is compose", lines: []string{"docker-compose up -d"}, want: []dockerUse{{subcommand: "compose"}}},
		{name: "docker-compose run -v is compose's", lines: []string{"docker-compose run -v /a:/b svc"}, want: []dockerUse{{subcommand: "compose"}}},
		{name: "docker compose up", lines: []string{"docker compose -f c.yml up -d"}, want: []dockerUse{{subcommand: "compose"}}},
		{name: "--net container:", lines: []string{"docker run --net container:db img"}, want: []dockerUse{{subcommand: "run", network: "container:db"}}},
		{name: "--network=container:", lines: []string{"docker run --network=container:db img"}, want: []dockerUse{{subcommand: "run", network: "container:db"}}},
		{name: "--network of a name is not a container's", lines: []string{"docker run --network build-net img"}, want: []dockerUse{run()}},
		{name: "--network container: after the image is the container's", lines: []string{"docker run img --network container:db"}, want: []dockerUse{run()}},
		{name: "-p publishes", lines: []string{"docker run -p 8080:80 img"}, want: []dockerUse{{subcommand: "run", publishes: true}}},
		{name: "--publish= publishes", lines: []string{"docker run --publish=8080:80 img"}, want: []dockerUse{{subcommand: "run", publishes: true}}},
		{name: "-P publishes all", lines: []string{"docker run -P img"}, want: []dockerUse{{subcommand: "run", publishes: true}}},
		{name: "-dP publishes all", lines: []string{"docker run -dP img"}, want: []dockerUse{{subcommand: "run", publishes: true}}},
		{name: "-p after the image is the container's", lines: []string{"docker run img serve -p 80"}, want: []dockerUse{run()}},
		{name: "$$ is the runner's escape for $", lines: []string{"docker run -v $${PWD}:/src img"}, want: []dockerUse{run("${PWD}:/src")}},
		{name: "$$ in a command substitution", lines: []string{"docker rm $$(docker ps -aq)"}, want: []dockerUse{{subcommand: "rm"}, {subcommand: "ps"}}},
		{name: "an unparsable line is skipped", lines: []string{`docker run -v "/a:/b img`, "if then fi (", "docker ps"}, want: []dockerUse{{subcommand: "ps"}}},
		{name: "a bare docker", lines: []string{"docker"}, want: []dockerUse{{}}},
		{name: "a multi-line command", lines: []string{"docker run \\\n  -v /a:/b \\\n  img"}, want: []dockerUse{run("/a:/b")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []dockerUse
			for _, c := range dockerCalls(tt.lines) {
				got = append(got, dockerUse{subcommand: c.subcommand(), hostMounts: c.hostMounts(), network: c.containerNetwork(), publishes: c.publishes()})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%q:\ngot  %+v\nwant %+v", tt.lines, got, tt.want)
			}
		})
	}
}

func TestDockerCallKeepsTheLineAsWritten(t *testing.T) {
	lines := []string{"echo start", "docker run -v $${PWD}:/src img"}
	calls := dockerCalls(lines)
	if len(calls) != 1 || calls[0].line != lines[1] {
		t.Fatalf("got %+v, want one call with line %q (what the author wrote, $$ and all)", calls, lines[1])
	}
}

func TestRunFlags(t *testing.T) {
	tests := []struct {
		name string
		line string
		want [][2]string
	}{
		{name: "booleans and a value", line: "docker run --rm -d -v /a:/b img", want: [][2]string{{"--rm", ""}, {"-d", ""}, {"-v", "/a:/b"}}},
		{name: "combined short booleans", line: "docker run -dit img", want: [][2]string{{"-d", ""}, {"-i", ""}, {"-t", ""}}},
		{name: "combined short flags ending in a value flag", line: "docker run -itp 80:80 img", want: [][2]string{{"-i", ""}, {"-t", ""}, {"-p", "80:80"}}},
		{name: "short flag with = and value", line: "docker run -e=A=1 img", want: [][2]string{{"-e", "A=1"}}},
		{name: "long flag with =", line: "docker run --network=host --rm=false img", want: [][2]string{{"--network", "host"}, {"--rm", "false"}}},
		{name: "long flag with its value apart", line: "docker run --name x --mount type=bind,src=/a,dst=/b img", want: [][2]string{{"--name", "x"}, {"--mount", "type=bind,src=/a,dst=/b"}}},
		{name: "quotes are stripped from values", line: `docker run -v "$PWD":'/src' img`, want: [][2]string{{"-v", "$PWD:/src"}}},
		{name: "container run", line: "docker container run -P img", want: [][2]string{{"-P", ""}}},
		{name: "create", line: "docker create --tty img", want: [][2]string{{"--tty", ""}}},
		{name: "--use-api-socket takes no value", line: "docker run --use-api-socket -v /a:/b img -p 80", want: [][2]string{{"--use-api-socket", ""}, {"-v", "/a:/b"}}},
		{name: "stops at the image", line: "docker run img -v /a:/b", want: nil},
		{name: "stops at --", line: "docker run -d -- img", want: [][2]string{{"-d", ""}}},
		{name: "a trailing value flag without a value", line: "docker run --name", want: nil},
		{name: "docker build has none", line: "docker build -t x -f Dockerfile .", want: nil},
		{name: "docker build --target run has none", line: "docker build --target run -f Dockerfile.run -t x .", want: nil},
		{name: "docker exec of a command named create has none", line: "docker exec app create -v /a:/b", want: nil},
		{name: "global flags before run", line: "docker --context ci -D run --rm img", want: [][2]string{{"--rm", ""}}},
		{name: "docker push has none", line: "docker push x", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := dockerCalls([]string{tt.line})
			if len(calls) != 1 {
				t.Fatalf("%q: %d docker calls, want 1", tt.line, len(calls))
			}
			if got := calls[0].runFlags(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%q:\ngot  %q\nwant %q", tt.line, got, tt.want)
			}
		})
	}
}

func TestLocalDockerHost(t *testing.T) {
	daemons := []string{"dind", "docker-daemon"}
	tests := []struct {
		value string
		local bool
	}{
		{"", true},
		{"  ", true},
		{"tcp://docker:2375", true},
		{"tcp://docker:2376", true},
		{"tcp://dind:2375", true},
		{"tcp://docker-daemon:2375", true},
		{"tcp://localhost:2375", true},
		{"tcp://127.0.0.1:2375", true},
		{"tcp://127.0.0.2:2375", true},
		{"tcp://[::1]:2375", true},
		{"tcp://0.0.0.0:2375", true},
		{"tcp://[::]:2375", true},
		{"docker:2375", true},
		{"dind:2375", true},
		{"localhost:2375", true},
		{"127.0.0.1:2375", true},
		{":2375", true},
		{"tcp://:2375", true},
		{"tcp://", true},
		{"tcp://Docker:2375", true},
		{"tcp://DIND:2375", true},
		{"tcp://LOCALHOST:2375", true},
		{"tcp://localhost.:2375", true},
		{"unix:///var/run/docker.sock", true},
		{"unix:///run/user/1000/docker.sock", true},
		{"npipe:////./pipe/docker_engine", true},
		{"$DIND_HOST", true},
		{"tcp://${DIND}:2375", true},
		{"tcp://build.example.com:2376", false},
		{"build.example.com:2376", false},
		{"10.0.0.5:2376", false},
		{"tcp://10.0.0.5:2376", false},
		{"tcp://[2001:db8::1]:2376", false},
		{"tcp://dind.example.com:2376", false},
		{"ssh://builder@build.example.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			if got := localDockerHost(tt.value, daemons); got != tt.local {
				t.Errorf("localDockerHost(%q, %q) = %v, want %v", tt.value, daemons, got, tt.local)
			}
		})
	}
}

func TestRemoteDockerMode(t *testing.T) {
	fromSecrets := DockerTLSSecrets{CA: "docker_ca", Cert: "docker_cert", Key: "docker_key"}
	tests := []struct {
		name    string
		remote  RemoteDocker
		trusted bool
		want    dockerHostMode
		err     string
		note    string // an operator note the refusal carries
	}{
		{name: "plain TCP, trusted", remote: RemoteDocker{Host: "tcp://d:2375", PlainTCP: true}, trusted: true, want: plainTCP},
		{name: "plain TCP, untrusted", remote: RemoteDocker{Host: "tcp://d:2375", PlainTCP: true}, want: plainTCP},
		{name: "Secret volume for a trusted repo", remote: RemoteDocker{Host: "tcp://d:2376", TLSSecret: "docker-tls"}, trusted: true, want: tlsVolume},
		{name: "Secret volume preferred when both are set", remote: RemoteDocker{Host: "tcp://d:2376", TLSSecret: "docker-tls", TLSFromSecrets: fromSecrets}, trusted: true, want: tlsVolume},
		{name: "Drone secrets for an untrusted repo", remote: RemoteDocker{Host: "tcp://d:2376", TLSSecret: "docker-tls", TLSFromSecrets: fromSecrets}, want: tlsFromSecrets},
		{name: "Drone secrets only, trusted", remote: RemoteDocker{Host: "tcp://d:2376", TLSFromSecrets: fromSecrets}, trusted: true, want: tlsFromSecrets},
		{name: "Secret volume only, untrusted", remote: RemoteDocker{Host: "tcp://d:2376", TLSSecret: "docker-tls"},
			err: "the remote Docker daemon tcp://d:2376 needs TLS client certificates, and this repo is not trusted: the runner refuses the secret volume that would mount them for untrusted repos (a Drone admin can trust the repo)", note: "DRONE_ECI_DOCKER_TLS_FROM_SECRETS: certificates of the remote Docker daemon tcp://d:2376 from Drone secrets would serve untrusted repos"},
		{name: "Drone secrets incomplete, untrusted", remote: RemoteDocker{Host: "tcp://d:2376", TLSSecret: "docker-tls", TLSFromSecrets: DockerTLSSecrets{CA: "ca", Cert: "cert"}},
			err: "needs TLS client certificates", note: "DRONE_ECI_DOCKER_TLS_FROM_SECRETS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.remote.mode(tt.trusted)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, %v; want an error containing %q", got, err, tt.err)
				}
				if notes := OperatorNotes(err); len(notes) != 1 || !strings.Contains(notes[0].String(), tt.note) || strings.Contains(err.Error(), "DRONE_ECI_") {
					t.Errorf("refusal %q carries operator notes %v, want one with %q and no setting in the refusal", err, notes, tt.note)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// TestRemoteDockerStepHosts converts steps whose own DOCKER_HOST is
// written the ways the docker CLI accepts: those that named the dropped
// daemon must be pointed at the remote one, the rest left alone.
func TestRemoteDockerStepHosts(t *testing.T) {
	tr := Kaniko{RemoteDocker: RemoteDocker{Host: "tcp://10.0.0.5:2375", PlainTCP: true}}
	pipeline := func(dockerHost string) string {
		return "steps:\n- name: test\n  image: 'docker:27'\n  environment:\n    DOCKER_HOST: '" + dockerHost + "'\n  commands:\n  - docker info\n" +
			"services:\n- name: dind\n  image: 'docker:27-dind'\n  privileged: true\n"
	}
	tests := []struct {
		dockerHost string
		want       expect
	}{
		{dockerHost: "tcp://dind:2375", want: expect{contains: []string{"DOCKER_HOST: tcp://10.0.0.5:2375"}, absent: []string{"dind:2375", "privileged"}}},
		{dockerHost: "dind:2375", want: expect{contains: []string{"DOCKER_HOST: tcp://10.0.0.5:2375"}, absent: []string{"dind:2375", "privileged"}}},
		{dockerHost: "tcp://DIND:2375", want: expect{contains: []string{"DOCKER_HOST: tcp://10.0.0.5:2375"}, absent: []string{"DIND:2375", "privileged"}}},
		{dockerHost: "localhost:2375", want: expect{contains: []string{"DOCKER_HOST: tcp://10.0.0.5:2375"}, absent: []string{"localhost", "privileged"}}},
		// Left as is is no change: converting again must report none.
		{dockerHost: "tcp://build.example.com:2376", want: expect{contains: []string{"DOCKER_HOST: 'tcp://build.example.com:2376'"}, report: []string{"warnings: step \"test\": left as is"}}},
	}
	for _, tt := range tests {
		t.Run(tt.dockerHost, func(t *testing.T) {
			checkTransform(t, tr, pipeline(tt.dockerHost), tt.want)
		})
	}
}

// TestDockerLookupNeedsNoDaemon: a step that only checks whether the
// docker CLI is installed needs no daemon, with or without a remote one.
func TestDockerLookupNeedsNoDaemon(t *testing.T) {
	input := "steps:\n- name: check\n  image: 'alpine:3.20'\n  commands:\n  - command -v docker || echo 'no docker here'\n"
	for _, tr := range []Kaniko{{}, {RemoteDocker: RemoteDocker{Host: "tcp://10.0.0.5:2375", PlainTCP: true}}} {
		checkTransform(t, tr, input, expect{absent: []string{"DOCKER_HOST"}})
	}
}

// TestRemoteDockerRefusals: with a remote daemon, commands whose meaning
// would change on it silently are refused with the step and the line.
func TestRemoteDockerRefusals(t *testing.T) {
	tr := Kaniko{RemoteDocker: RemoteDocker{Host: "tcp://10.0.0.5:2375", PlainTCP: true}}
	tests := []struct {
		command string
		err     string // substring of the error, "" for a conversion
	}{
		{command: "docker run -v $$PWD:/src img make", err: `step "test": command "docker run -v $$PWD:/src img make" bind-mounts $PWD:/src`},
		{command: "docker run -v /var/run/docker.sock:/var/run/docker.sock img", err: `step "test": command "docker run -v /var/run/docker.sock:/var/run/docker.sock img" mounts the Docker socket`},
		{command: "docker run --use-api-socket img docker ps", err: "mounts the Docker socket into a container (/var/run/docker.sock (--use-api-socket))"},
		{command: "docker run --network container:db img", err: "joins --network container:db"},
		{command: "sudo -u ci docker run -v /src:/src img", err: "bind-mounts /src:/src"},
		{command: "docker run -v cache:/cache img make"},
		{command: "docker run img cp -v /a:/b"},
		{command: "command -v docker && docker build -t x ."},
	}
	for _, tt := range tests {
		t.Run(tt.command, func(t *testing.T) {
			input := "steps:\n- name: test\n  image: 'docker:27'\n  commands:\n  - '" + tt.command + "'\n"
			_, _, err := apply(t, tr, input)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("got %v, want a conversion", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("got %v, want an error containing %q", err, tt.err)
			}
		})
	}
}

// The commands' own DOCKER_HOST (export, env, a prefix assignment) and
// docker's -H flag win over the environment the remote daemon is put
// in; each is found, with its value.
func TestDockerHostOverrides(t *testing.T) {
	tests := []struct {
		line    string
		assigns []string
		hosts   []string
	}{
		{line: "export DOCKER_HOST=tcp://docker:2375", assigns: []string{"tcp://docker:2375"}},
		{line: `export A=1 DOCKER_HOST="tcp://localhost:2375"`, assigns: []string{"tcp://localhost:2375"}},
		{line: "DOCKER_HOST=tcp://docker:2375 docker build .", assigns: []string{"tcp://docker:2375"}, hosts: []string{""}},
		{line: "DOCKER_HOST=unix:///var/run/docker.sock", assigns: []string{"unix:///var/run/docker.sock"}},
		{line: "env DOCKER_HOST=tcp://docker:2375 docker ps", assigns: []string{"tcp://docker:2375"}, hosts: []string{""}},
		{line: `sh -c 'export DOCKER_HOST=tcp://docker:2375; docker ps'`, assigns: []string{"tcp://docker:2375"}, hosts: []string{""}},
		{line: "docker -H tcp://docker:2375 build .", hosts: []string{"tcp://docker:2375"}},
		{line: "docker --host=tcp://127.0.0.1:2375 ps", hosts: []string{"tcp://127.0.0.1:2375"}},
		{line: "docker -Htcp://docker:2375 ps", hosts: []string{"tcp://docker:2375"}},
		{line: "docker --log-level debug -H unix:///var/run/docker.sock push x", hosts: []string{"unix:///var/run/docker.sock"}},
		{line: "docker run -h myhost img", hosts: []string{""}},
		{line: "docker run img docker -H tcp://docker:2375 ps", hosts: []string{""}},
		{line: "echo DOCKER_HOST=tcp://docker:2375"},
		{line: "export DOCKER_HOST"},
	}
	for _, tt := range tests {
		calls, assigns := scanCommands([]string{tt.line})
		var gotAssigns, gotHosts []string
		for _, a := range assigns {
			if a.line != tt.line {
				t.Errorf("%q: assignment's line %q", tt.line, a.line)
			}
			gotAssigns = append(gotAssigns, a.value)
		}
		for _, c := range calls {
			gotHosts = append(gotHosts, c.globalHost())
		}
		if !reflect.DeepEqual(gotAssigns, tt.assigns) || !reflect.DeepEqual(gotHosts, tt.hosts) {
			t.Errorf("%q: assignments %q, -H %q; want %q, %q", tt.line, gotAssigns, gotHosts, tt.assigns, tt.hosts)
		}
	}
	if !setsLocalDockerHost([]string{"make", "export DOCKER_HOST=tcp://dind:2375"}, []string{"dind"}) {
		t.Error("export DOCKER_HOST=tcp://dind:2375 with a daemon service named dind: not seen as the pod's daemon")
	}
	if setsLocalDockerHost([]string{"export DOCKER_HOST=tcp://builder.example.com:2376", "export DOCKER_HOST=$REMOTE"}, nil) {
		t.Error("a daemon outside the pod, or one the shell expands, seen as the pod's daemon")
	}
}

func TestSocketTest(t *testing.T) {
	for line, want := range map[string]bool{
		"while [ ! -S /var/run/docker.sock ]; do sleep 1; done":  true,
		`until test -S "/var/run/docker.sock"; do sleep 1; done`: true,
		"[ -S /run/docker.sock ] || exit 1":                      true,
		"while [ ! -e /var/run/docker.sock ]; do sleep 1; done":  false,
		"docker build -S x .":                                    false,
		"ls -S /var/run":                                         false,
	} {
		if got := socketTest.MatchString(line); got != want {
			t.Errorf("%q: socket test %v, want %v", line, got, want)
		}
	}
}

// FuzzScanFilter checks the claim scanCommands' filter rests on: a
// command mayMentionDocker rules out has no docker call and no
// assignment of DOCKER_HOST when it is parsed after all.
func FuzzScanFilter(f *testing.F) {
	for _, s := range []string{
		"docker build .", `d"o"cker run x`, "dock\\\ner ps", `sh -c 'dock''er run x'`,
		`sh -c "d''ocker info"`, `export DOCK"ER_H"OST=tcp://docker:2375`, "DOCKER_HOST=x make",
		"go test ./...", `env DOCKER_HOST=tcp://d:2375 sudo -u x docker ps`, "timeout 60 docker-compose up",
		"sh -c \"sh -c 'docker ps'\"", "`dock\\er ps`", "$(docker ps)", "bash -c \"dock\\\nker ps\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if mayMentionDocker(text) {
			return
		}
		calls, assigns := scanFiltered([]string{text}, false)
		if len(calls) > 0 || len(assigns) > 0 {
			t.Fatalf("%q: filtered out, but holds calls %v and assignments %v", text, calls, assigns)
		}
	})
}
