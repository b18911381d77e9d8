package transform

import (
	"fmt"
	"maps"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/drone-convert-eci/drone-convert-eci/internal/yamldoc"
)

// MigrateDocker rewrites a Docker-runner pipeline (`type: docker`, or no
// type) into the kubernetes pipeline drone-runner-kube runs the same
// way, before the ECI transforms see it. Field names and meanings are
// those of drone-runner-docker v1.8.3 (engine/resource/pipeline.go,
// engine/compiler) and drone-runner-kube v1.0.0-rc.5: what both read
// the same way is kept as written; what has a pod counterpart is
// translated; what cannot run in a pod on ECI is refused, naming the
// pipeline, container and field.
type MigrateDocker struct {
	// RunnerLabels are the ECI runner's DRONE_RUNNER_LABELS. Drone hands
	// a stage only to a runner whose labels equal the pipeline's `node`
	// exactly, so a pipeline routed elsewhere cannot be moved.
	RunnerLabels map[string]string
}

// dormantPipelineKeys are kubernetes-only pipeline fields that the
// Docker runner never read: once the pipeline is a kubernetes one they
// would start to mean something (a stage-level `resources.limits`, for
// one, makes the kube runner's linter refuse the pipeline), so they go.
var dormantPipelineKeys = []string{"resources", "node_selector", "node_name", "tolerations", "service_account_name", "dns_config", "host_aliases"}

// dockerOnlyStepKeys are step fields the kube runner does not have; the
// migration translates or refuses each, then removes it.
var dockerOnlyStepKeys = []string{"network_mode", "devices", "extra_hosts", "dns", "dns_search", "mem_limit", "memswap_limit", "shm_size"}

// Apply rewrites p in place. It returns an error naming the pipeline,
// container and field when something cannot run in a pod on ECI.
func (m MigrateDocker) Apply(p *Pipeline) error {
	r := &migration{m: m, p: p}
	if err := r.run(); err != nil {
		return fmt.Errorf("pipeline %q: %w", p.Name, err)
	}
	// yamldoc.Encode repairs aliases whose anchor was copied away.
	return nil
}

type migration struct {
	m        MigrateDocker
	p        *Pipeline
	hosts    map[string]hostEntry // extra_hosts by hostname
	hostList []string             // hostnames in first-seen order
	dns      []string
	searches []string
	dnsFrom  map[string]bool // containers that asked for dns/dns_search
	shmName  string          // the /dev/shm volume, once one is needed
	changed  bool
}

type hostEntry struct {
	ip   string
	from string // the container that asked first, for messages
}

func (r *migration) run() error {
	body := r.p.Body
	if err := r.setType(); err != nil {
		return err
	}
	if err := r.platform(); err != nil {
		return err
	}
	if err := r.node(); err != nil {
		return err
	}
	for _, key := range dormantPipelineKeys {
		if get(body, key) != nil || lookup(body, key) != nil {
			if err := dropKey(body, key); err != nil {
				return err
			}
			r.p.Report.Changed("%s dropped: the Docker runner never read it, drone-runner-kube would", key)
		}
	}
	if md := resolve(lookup(body, "metadata")); md != nil {
		for _, key := range []string{"namespace", "labels"} {
			if lookup(md, key) != nil {
				r.p.Report.Warn("metadata.%s now applies to the pod (the Docker runner ignored it)", key)
			}
		}
	}
	if err := r.workspace(); err != nil {
		return err
	}
	if err := r.containers("services", true); err != nil {
		return err
	}
	if err := r.containers("steps", false); err != nil {
		return err
	}
	if err := r.serviceNames(); err != nil {
		return err
	}
	r.sharedPorts()
	if err := r.writeHosts(); err != nil {
		return err
	}
	return r.writeDNS()
}

// setType makes the pipeline a kubernetes one, with `type` right after
// `kind` when the document had none.
func (r *migration) setType() error {
	body := r.p.Body
	for i := 0; i+1 < len(body.Content); i += 2 {
		if body.Content[i].Value == "type" && !yamldoc.IsMergeKey(body.Content[i]) {
			was := resolve(body.Content[i+1]).Value
			body.Content[i+1] = scalar("kubernetes")
			r.p.Report.Changed("type %s → kubernetes (migrated from the Docker runner)", was)
			return nil
		}
	}
	if was := lookupString(body, "type"); was != "" {
		// brought in by a merge key: an explicit key overrides it
		body.Content = append(body.Content, scalar("type"), scalar("kubernetes"))
		r.p.Report.Changed("type %s → kubernetes (migrated from the Docker runner)", was)
		return nil
	}
	at := len(body.Content)
	for i := 0; i+1 < len(body.Content); i += 2 {
		if body.Content[i].Value == "kind" {
			at = i + 2
			break
		}
	}
	body.Content = slices.Insert(body.Content, at, scalar("type"), scalar("kubernetes"))
	r.p.Report.Changed("type kubernetes added (an untyped pipeline ran on the Docker runner)")
	return nil
}

// platform refuses what ECI's virtual node does not run: the sizing
// transform picks amd64 specs and the node schedules Linux pods.
func (r *migration) platform() error {
	plat := resolve(lookup(r.p.Body, "platform"))
	if plat == nil || isNull(plat) {
		return nil
	}
	if plat.Kind != yaml.MappingNode {
		return fmt.Errorf("platform: expected a mapping, found a %s", kindName(plat.Kind))
	}
	if os := lookupString(plat, "os"); os != "" && os != "linux" {
		return fmt.Errorf("platform.os %s: ECI's virtual node runs Linux pods only; keep this pipeline on the Docker runner", os)
	}
	if arch := lookupString(plat, "arch"); arch != "" && arch != "amd64" {
		return fmt.Errorf("platform.arch %s: converted pods get amd64 ECI specs, where %s images do not run; keep this pipeline on the Docker runner", arch, arch)
	}
	return nil
}

// node checks the pipeline's runner routing against the ECI runner's
// labels: Drone's queue gives a stage to a runner only when their label
// sets are equal (scheduler/queue checkLabels).
func (r *migration) node() error {
	n := resolve(lookup(r.p.Body, "node"))
	have := map[string]string{}
	if n != nil && !isNull(n) {
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("node: expected a mapping, found a %s", kindName(n.Kind))
		}
		for _, kv := range flatten(n) {
			have[kv.key.Value] = resolve(kv.value).Value
		}
	}
	want := r.m.RunnerLabels
	if maps.Equal(have, want) || (len(have) == 0 && len(want) == 0) {
		return nil
	}
	if len(have) == 0 {
		sel, err := editable(r.p.Body, "node", yaml.MappingNode, "node")
		if err != nil {
			return err
		}
		for _, k := range slices.Sorted(maps.Keys(want)) {
			setString(sel, k, want[k])
		}
		r.p.Report.Changed("node %s added: the ECI runner's labels, which Drone matches exactly", labelString(want))
		return nil
	}
	return fmt.Errorf("node %s: it routes this pipeline to Docker runners labelled so, and Drone gives a stage only to a runner whose labels equal it; the ECI runner's are %s, so this pipeline stays on the Docker runner (remove node, or set it to those labels)", labelString(have), labelString(want))
}

func labelString(m map[string]string) string {
	if len(m) == 0 {
		return "{} (none)"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+": "+m[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// workspace maps the Docker runner's base + path (drone-runner-docker
// engine/compiler/workspace.go createWorkspace) onto the kube runner's
// single absolute path.
func (r *migration) workspace() error {
	ws := resolve(lookup(r.p.Body, "workspace"))
	if ws == nil || isNull(ws) {
		return nil
	}
	if ws.Kind != yaml.MappingNode {
		return fmt.Errorf("workspace: expected a mapping, found a %s", kindName(ws.Kind))
	}
	base, rel := lookupString(ws, "base"), lookupString(ws, "path")
	if base == "" && (rel == "" || strings.HasPrefix(rel, "/")) {
		return nil // the kube runner reads an absolute path the same way
	}
	if base == "" {
		base = "/drone/src"
	}
	full := path.Join(base, rel)
	fresh := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	put(fresh, "path", raw(full))
	put(r.p.Body, "workspace", fresh)
	r.p.Report.Changed("workspace base %s, path %s → path %s", base, rel, full)
	if full != base {
		r.p.Report.Warn("workspace: the Docker runner shared all of %s between steps, drone-runner-kube shares only %s (files kept elsewhere under %s, such as caches, start empty in each step; DRONE_WORKSPACE_BASE and DRONE_WORKSPACE_PATH are no longer set)", base, full, base)
	}
	return nil
}

// containers translates the Docker-only fields of every service or step.
func (r *migration) containers(key string, service bool) error {
	list := resolve(lookup(r.p.Body, key))
	if list == nil || isNull(list) {
		return nil
	}
	if list.Kind != yaml.SequenceNode {
		return fmt.Errorf("%s: expected a list, found a %s", key, kindName(list.Kind))
	}
	kind := "step"
	if service {
		kind = "service"
	}
	var editList *yaml.Node
	for i, item := range list.Content {
		n := resolve(item)
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("%s[%d]: expected a mapping, found a %s", key, i, kindName(n.Kind))
		}
		name := lookupString(n, "name")
		if !needsEdit(n) {
			continue
		}
		if editList == nil {
			var err error
			if editList, err = editable(r.p.Body, key, yaml.SequenceNode, key); err != nil {
				return err
			}
		}
		own := fresh(flatten(n))
		editList.Content[i] = own
		if err := r.container(own, name, kind); err != nil {
			return fmt.Errorf("%s %q: %w", kind, name, err)
		}
	}
	return nil
}

func needsEdit(n *yaml.Node) bool {
	for _, key := range append(slices.Clone(dockerOnlyStepKeys), "user", "resources", "group") {
		if lookup(n, key) != nil {
			return true
		}
	}
	return false
}

func (r *migration) container(c *yaml.Node, name, kind string) error {
	who := fmt.Sprintf("%s %q", kind, name)
	if v := get(c, "network_mode"); v != nil {
		mode, _ := literal(v)
		if mode != "" && mode != "bridge" {
			return fmt.Errorf("network_mode %s: every container of a pod shares one network namespace, so Docker network modes cannot be reproduced on ECI", mode)
		}
		del(c, "network_mode")
		if mode == "bridge" {
			r.p.Report.Warn("%s: network_mode bridge dropped: in the pod it shares the network of every other container", who)
		}
	}
	if v := resolve(get(c, "devices")); v != nil && !isNull(v) {
		if v.Kind != yaml.SequenceNode || len(v.Content) > 0 {
			return fmt.Errorf("devices: ECI containers cannot map host devices")
		}
		del(c, "devices")
	}
	if v := get(c, "extra_hosts"); v != nil {
		entries, err := stringList(v, "extra_hosts")
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := r.addHost(e, name); err != nil {
				return err
			}
		}
		del(c, "extra_hosts")
		if len(entries) > 0 {
			r.p.Report.Changed("%s: extra_hosts → host_aliases (they apply to every container of the pod)", who)
		}
	}
	for _, f := range []struct {
		key  string
		dest *[]string
	}{{"dns", &r.dns}, {"dns_search", &r.searches}} {
		v := get(c, f.key)
		if v == nil {
			continue
		}
		entries, err := stringList(v, f.key)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if f.key == "dns" && net.ParseIP(e) == nil {
				return fmt.Errorf("dns %q: not an IP address", e)
			}
			if f.key == "dns_search" && len(validation.IsDNS1123Subdomain(strings.TrimSuffix(e, "."))) > 0 {
				return fmt.Errorf("dns_search %q: Kubernetes takes only DNS-1123 domain names", e)
			}
			if !slices.Contains(*f.dest, e) {
				*f.dest = append(*f.dest, e)
			}
		}
		del(c, f.key)
		if len(entries) > 0 {
			if r.dnsFrom == nil {
				r.dnsFrom = map[string]bool{}
			}
			r.dnsFrom[name] = true
		}
	}
	if get(c, "resources") != nil || get(c, "group") != nil {
		del(c, "resources")
		del(c, "group")
		r.p.Report.Changed("%s: resources/group dropped: the Docker runner never read them", who)
	}
	if v := get(c, "mem_limit"); v != nil {
		mem, ok := literal(v)
		del(c, "mem_limit")
		if ok && mem != "" {
			limits := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			put(limits, "memory", &yaml.Node{Kind: yaml.ScalarNode, Tag: resolve(v).Tag, Value: mem})
			res := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			put(res, "limits", limits)
			put(c, "resources", res)
			r.p.Report.Changed("%s: mem_limit %s → resources.limits.memory", who, mem)
		}
	}
	if get(c, "memswap_limit") != nil {
		del(c, "memswap_limit")
		r.p.Report.Warn("%s: memswap_limit dropped: Kubernetes containers get no swap", who)
	}
	if v := get(c, "shm_size"); v != nil {
		size, _ := literal(v)
		del(c, "shm_size")
		if err := r.mountShm(c); err != nil {
			return err
		}
		r.p.Report.Changed("%s: shm_size %s → /dev/shm on the temp volume %s (disk-backed, no size limit)", who, size, r.shmName)
	}
	if v := get(c, "user"); v != nil {
		if err := r.user(c, v, who); err != nil {
			return err
		}
	}
	return nil
}

// addHost records one extra_hosts entry, "host:ip" as Docker reads it
// (the first ':' separates, so IPv6 addresses keep theirs).
func (r *migration) addHost(entry, from string) error {
	if strings.Contains(entry, "$") {
		return fmt.Errorf("extra_hosts %q: a substituted value cannot be checked as a host alias", entry)
	}
	host, ip, ok := strings.Cut(entry, ":")
	if !ok {
		host, ip, ok = strings.Cut(entry, "=")
	}
	if !ok {
		return fmt.Errorf("extra_hosts %q: expected host:ip", entry)
	}
	ip = strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]")
	if ip == "host-gateway" {
		return fmt.Errorf("extra_hosts %q: there is no Docker host on ECI for host-gateway to name", entry)
	}
	if net.ParseIP(ip) == nil {
		return fmt.Errorf("extra_hosts %q: %q is not an IP address", entry, ip)
	}
	if errs := validation.IsDNS1123Subdomain(host); len(errs) > 0 {
		return fmt.Errorf("extra_hosts %q: Kubernetes host aliases take only DNS-1123 names (%s)", entry, errs[0])
	}
	if r.hosts == nil {
		r.hosts = map[string]hostEntry{}
	}
	if have, seen := r.hosts[host]; seen {
		if have.ip != ip {
			return fmt.Errorf("extra_hosts %q: %q maps %s to %s; a pod has one /etc/hosts for all its containers", entry, have.from, host, have.ip)
		}
		return nil
	}
	r.hosts[host] = hostEntry{ip: ip, from: from}
	r.hostList = append(r.hostList, host)
	return nil
}

// mountShm gives the container a /dev/shm on one temp volume shared by
// every container that set shm_size. The runner's linter refuses
// in-memory volumes for untrusted repos, so the volume is disk-backed.
func (r *migration) mountShm(c *yaml.Node) error {
	if r.shmName == "" {
		taken := map[string]bool{}
		if vols := resolve(lookup(r.p.Body, "volumes")); vols != nil && vols.Kind == yaml.SequenceNode {
			for _, v := range vols.Content {
				taken[lookupString(v, "name")] = true
			}
		}
		r.shmName = "dshm"
		for i := 2; taken[r.shmName]; i++ {
			r.shmName = "dshm-" + strconv.Itoa(i)
		}
		vols, err := editable(r.p.Body, "volumes", yaml.SequenceNode, "volumes")
		if err != nil {
			return err
		}
		vol := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		put(vol, "name", scalar(r.shmName))
		put(vol, "temp", &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle})
		vols.Content = append(vols.Content, vol)
	}
	mounts := resolve(get(c, "volumes"))
	list := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	if mounts != nil && !isNull(mounts) {
		if mounts.Kind != yaml.SequenceNode {
			return fmt.Errorf("volumes: expected a list, found a %s", kindName(mounts.Kind))
		}
		for _, m := range mounts.Content {
			if path.Clean(lookupString(m, "path")) == "/dev/shm" {
				return fmt.Errorf("shm_size: the container already mounts a volume at /dev/shm")
			}
		}
		list.Content = append(list.Content, mounts.Content...)
	}
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	put(m, "name", scalar(r.shmName))
	put(m, "path", scalar("/dev/shm"))
	list.Content = append(list.Content, m)
	put(c, "volumes", list)
	return nil
}

// user maps Docker's "uid[:gid]" string onto the kube runner's numeric
// user and group (runAsUser, runAsGroup). Names other than root cannot
// be resolved without the image's /etc/passwd.
func (r *migration) user(c, v *yaml.Node, who string) error {
	s, ok := literal(v)
	if !ok || s == "" {
		del(c, "user")
		return nil
	}
	u, g, hasGroup := strings.Cut(s, ":")
	uid, err := numericID(u)
	if err != nil {
		return fmt.Errorf("user %q: %w", s, err)
	}
	put(c, "user", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: uid})
	if hasGroup {
		gid, err := numericID(g)
		if err != nil {
			return fmt.Errorf("user %q: %w", s, err)
		}
		put(c, "group", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: gid})
	}
	if hasGroup {
		r.p.Report.Changed("%s: user %s → user %s, group %s", who, s, uid, lookupString(c, "group"))
	} else if uid != s {
		r.p.Report.Changed("%s: user %s → user %s", who, s, uid)
	}
	return nil
}

func numericID(s string) (string, error) {
	if s == "root" {
		return "0", nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		return strconv.FormatInt(n, 10), nil
	}
	return "", fmt.Errorf("Kubernetes runs a container as a numeric user and group; %q is a name only the image's /etc/passwd resolves (write its number)", s)
}

// serviceNames refuses services (and detached steps) that the Docker
// runner made reachable by name but drone-runner-kube would not: it
// adds a 127.0.0.1 host alias only for names that pass
// IsDNS1123Subdomain (engine/compiler/compiler.go), and Kubernetes
// rejects any other host alias.
func (r *migration) serviceNames() error {
	for _, key := range []string{"services", "steps"} {
		list := resolve(lookup(r.p.Body, key))
		if list == nil || list.Kind != yaml.SequenceNode {
			continue
		}
		for _, item := range list.Content {
			name := lookupString(item, "name")
			if key == "steps" {
				if detach, _ := truth(lookup(item, "detach")); !detach {
					continue
				}
			}
			errs := validation.IsDNS1123Subdomain(name)
			if len(errs) == 0 {
				continue
			}
			what := "service"
			if key == "steps" {
				what = "detached step"
			}
			return fmt.Errorf("%s %q: the Docker runner made it reachable by that name; in a pod services share localhost and drone-runner-kube adds a host alias only for DNS-1123 names (lowercase letters, digits, '-' and '.'), so %q would no longer resolve: rename it (e.g. %q) or connect to localhost", what, name, name, suggestName(name))
		}
	}
	return nil
}

func suggestName(name string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(name) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' {
			b.WriteRune(c)
		} else {
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), "-.")
	if s == "" {
		s = "service"
	}
	return s
}

// sharedPorts warns about services that run the same image: each had
// its own address under Docker, in a pod they share localhost and would
// both try to listen on the image's port.
func (r *migration) sharedPorts() {
	seen := map[string]string{}
	for _, key := range []string{"services", "steps"} {
		list := resolve(lookup(r.p.Body, key))
		if list == nil || list.Kind != yaml.SequenceNode {
			continue
		}
		for _, item := range list.Content {
			if key == "steps" {
				if detach, _ := truth(lookup(item, "detach")); !detach {
					continue
				}
			}
			name, repo := lookupString(item, "name"), repository(lookupString(item, "image"))
			if repo == "" {
				continue
			}
			if first, ok := seen[repo]; ok {
				r.p.Report.Warn("services %q and %q both run %s: each had its own address on the Docker network, in the pod they share localhost and cannot listen on the same port", first, name, repo)
				continue
			}
			seen[repo] = name
		}
	}
}

func (r *migration) writeHosts() error {
	if len(r.hostList) == 0 {
		return nil
	}
	list, err := editable(r.p.Body, "host_aliases", yaml.SequenceNode, "host_aliases")
	if err != nil {
		return err
	}
	byIP := map[string]*yaml.Node{}
	for _, host := range r.hostList {
		ip := r.hosts[host].ip
		names := byIP[ip]
		if names == nil {
			entry := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			put(entry, "ip", scalar(ip))
			names = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			put(entry, "hostnames", names)
			list.Content = append(list.Content, entry)
			byIP[ip] = names
		}
		names.Content = append(names.Content, scalar(host))
	}
	return nil
}

func (r *migration) writeDNS() error {
	if len(r.dns) == 0 && len(r.searches) == 0 {
		return nil
	}
	if len(r.dns) > 3 {
		return fmt.Errorf("dns: %d name servers; Kubernetes takes at most 3", len(r.dns))
	}
	cfg, err := editable(r.p.Body, "dns_config", yaml.MappingNode, "dns_config")
	if err != nil {
		return err
	}
	for _, f := range []struct {
		key    string
		values []string
	}{{"nameservers", r.dns}, {"searches", r.searches}} {
		if len(f.values) == 0 {
			continue
		}
		list := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, v := range f.values {
			list.Content = append(list.Content, scalar(v))
		}
		put(cfg, f.key, list)
	}
	from := slices.Sorted(maps.Keys(r.dnsFrom))
	r.p.Report.Changed("dns/dns_search of %s → dns_config", strings.Join(quoteAll(from), ", "))
	if len(r.dns) > 0 {
		r.p.Report.Warn("dns %s: the pod keeps the cluster's resolver first and asks these only when it does not answer (Docker replaced the resolver), and they apply to every container", strings.Join(r.dns, ", "))
	}
	return nil
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = strconv.Quote(v)
	}
	return out
}

// stringList reads a list of strings, or one string, as Docker's
// runner reads dns, dns_search and extra_hosts.
func stringList(v *yaml.Node, field string) ([]string, error) {
	v = resolve(v)
	if v == nil || isNull(v) {
		return nil, nil
	}
	if v.Kind == yaml.ScalarNode {
		return []string{v.Value}, nil
	}
	if v.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s: expected a list, found a %s", field, kindName(v.Kind))
	}
	var out []string
	for i, item := range v.Content {
		s, ok := literal(item)
		if !ok {
			return nil, fmt.Errorf("%s[%d]: expected a string", field, i)
		}
		out = append(out, s)
	}
	return out, nil
}

// dropKey removes a pipeline key, explicit or brought in by a merge key
// (then overridden by an explicit null, which both runners read as
// unset).
func dropKey(body *yaml.Node, key string) error {
	del(body, key)
	if lookup(body, key) != nil {
		body.Content = append(body.Content, scalar(key), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"})
	}
	return nil
}
