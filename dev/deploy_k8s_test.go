// deploy/k8s checked without a cluster: every document parses; every
// flag a container passes exists; probes hit a declared port that is the
// node's listen port; the Secrets, ConfigMaps and volumes containers
// refer to exist (Services and kustomizations: deploy_k8s_refs_test.go).

package dev_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// k8sObject is the part of a manifest (or a Kustomization) the checks
// read.
type k8sObject struct {
	file       string
	Kind       string `yaml:"kind"`
	APIVersion string `yaml:"apiVersion"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec struct {
		Replicas    *int           `yaml:"replicas"`
		ServiceName string         `yaml:"serviceName"`
		ClusterIP   string         `yaml:"clusterIP"`
		Selector    map[string]any `yaml:"selector"` // a Service's labels, or {matchLabels}
		Ports       []struct {
			Name       string `yaml:"name"`
			TargetPort any    `yaml:"targetPort"`
			Protocol   string `yaml:"protocol"`
		} `yaml:"ports"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
		VolumeClaimTemplates []struct {
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
		} `yaml:"volumeClaimTemplates"`
		MaxUnavailable any `yaml:"maxUnavailable"`
	} `yaml:"spec"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	// Kustomization
	Resources []string `yaml:"resources"`
	Patches   []struct {
		Target struct {
			Kind string `yaml:"kind"`
			Name string `yaml:"name"`
		} `yaml:"target"`
		Patch string `yaml:"patch"`
	} `yaml:"patches"`
	ReplicaCounts []struct {
		Name string `yaml:"name"`
	} `yaml:"replicas"`
}

type podSpec struct {
	SecurityContext struct {
		RunAsUser int `yaml:"runAsUser"`
	} `yaml:"securityContext"`
	Containers []container `yaml:"containers"`
	Volumes    []struct {
		Name   string `yaml:"name"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
			Items      []struct {
				Key string `yaml:"key"`
			} `yaml:"items"`
		} `yaml:"secret"`
	} `yaml:"volumes"`
}

type container struct {
	Name    string   `yaml:"name"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name      string `yaml:"name"`
		ValueFrom *struct {
			ConfigMapKeyRef *keyRef `yaml:"configMapKeyRef"`
			SecretKeyRef    *keyRef `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
		Protocol      string `yaml:"protocol"`
	} `yaml:"ports"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	StartupProbe   *probe `yaml:"startupProbe"`
	VolumeMounts   []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type keyRef struct {
	Name     string `yaml:"name"`
	Key      string `yaml:"key"`
	Optional bool   `yaml:"optional"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
	TCPSocket *struct {
		Port any `yaml:"port"`
	} `yaml:"tcpSocket"`
}

// probeUse is one HTTP probe, for checkProbesServed.
type probeUse struct{ where, role, path string }

type manifests struct {
	objects        []*k8sObject
	kustomizations []*k8sObject
	probes         []probeUse
	containerPorts []string // "7070/tcp", for the Containerfile's EXPOSE
}

func readManifests(t *testing.T) *manifests {
	t.Helper()
	m := &manifests{}
	err := filepath.WalkDir(deployDir+"/k8s", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		for i := 1; ; i++ {
			o := &k8sObject{file: fmt.Sprintf("%s (document %d)", path, i)}
			if err := dec.Decode(o); errors.Is(err, io.EOF) {
				return nil
			} else if err != nil {
				return fmt.Errorf("%s: %w", o.file, err)
			}
			switch {
			case o.Kind == "Kustomization":
				o.file = path
				m.kustomizations = append(m.kustomizations, o)
			case o.Kind == "" || o.APIVersion == "" || o.Metadata.Name == "":
				return fmt.Errorf("%s: no kind, apiVersion or name", o.file)
			default:
				m.objects = append(m.objects, o)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.objects) == 0 || len(m.kustomizations) == 0 {
		t.Fatalf("deploy/k8s: %d objects and %d kustomizations", len(m.objects), len(m.kustomizations))
	}
	return m
}

func (m *manifests) find(kind, name string) *k8sObject {
	for _, o := range m.objects {
		if o.Kind == kind && o.Metadata.Name == name {
			return o
		}
	}
	return nil
}

func (m *manifests) workloads() []*k8sObject {
	var out []*k8sObject
	for _, o := range m.objects {
		if o.Kind == "StatefulSet" || o.Kind == "Deployment" || o.Kind == "DaemonSet" {
			out = append(out, o)
		}
	}
	return out
}

func (m *manifests) check(t *testing.T, h *helpCache, image *containerfile) {
	ws := m.workloads()
	if len(ws) < 2 {
		t.Fatalf("deploy/k8s: %d workloads, want the origins' and the edges'", len(ws))
	}
	for _, w := range ws {
		m.checkWorkload(t, h, w, image.uid())
	}
	for _, o := range m.objects {
		switch o.Kind {
		case "Service":
			m.checkService(t, o)
		case "PodDisruptionBudget":
			if len(m.selected(matchLabels(o.Spec.Selector))) == 0 {
				t.Errorf("%s: PodDisruptionBudget %s selects no workload's pods", o.file, o.Metadata.Name)
			}
		}
	}
	for _, k := range m.kustomizations {
		m.checkKustomization(t, h, k)
	}
	renderKustomizations(t, m.kustomizations)
}

// argv is what the container runs after the binary: the image's
// entrypoint is aloft, so args alone unless command replaces it.
func argv(t *testing.T, where string, c container) []string {
	if len(c.Command) == 0 {
		return c.Args
	}
	if filepath.Base(c.Command[0]) != "aloft" {
		t.Errorf("%s: container %s runs %s, not aloft", where, c.Name, c.Command[0])
	}
	return append(slices.Clone(c.Command[1:]), c.Args...)
}

// listenFlag names the flag whose port each role's probes must target.
var listenFlag = map[string]string{"origin": "api-addr", "edge": "addr"}

func (m *manifests) checkWorkload(t *testing.T, h *helpCache, w *k8sObject, uid int) {
	where := w.file + ": " + w.Kind + " " + w.Metadata.Name
	labels := w.Spec.Template.Metadata.Labels
	if sel := matchLabels(w.Spec.Selector); len(sel) == 0 || !subset(sel, labels) {
		t.Errorf("%s: selector %v does not match the pod labels %v", where, sel, labels)
	}
	if got := w.Spec.Template.Spec.SecurityContext.RunAsUser; got != uid {
		t.Errorf("%s: runAsUser %d, the image's USER is %d", where, got, uid)
	}
	if w.Kind == "StatefulSet" {
		svc := m.find("Service", w.Spec.ServiceName)
		if svc == nil || svc.Spec.ClusterIP != "None" || !slices.Contains(m.selected(labelMap(svc.Spec.Selector)), w) {
			t.Errorf("%s: serviceName %q is not a headless Service selecting its pods", where, w.Spec.ServiceName)
		}
	}
	volumes := map[string]bool{}
	for _, v := range w.Spec.Template.Spec.Volumes {
		volumes[v.Name] = true
		if v.Secret != nil {
			for _, it := range v.Secret.Items {
				m.checkRef(t, where, "Secret", keyRef{Name: v.Secret.SecretName, Key: it.Key})
			}
		}
	}
	for _, v := range w.Spec.VolumeClaimTemplates {
		volumes[v.Metadata.Name] = true
	}
	for _, c := range w.Spec.Template.Spec.Containers {
		m.checkContainer(t, h, where+" container "+c.Name, c, volumes)
	}
}

func (m *manifests) checkContainer(t *testing.T, h *helpCache, where string, c container, volumes map[string]bool) {
	args := argv(t, where, c)
	inv := parseArgs(where, args)
	cmd := h.checkFlags(t, inv)
	if cmd == nil {
		return
	}
	m.checkContainerEnv(t, where, c, cmd, strings.Join(args, " "))
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
		ports[strconv.Itoa(p.ContainerPort)] = p.ContainerPort
		m.containerPorts = append(m.containerPorts, fmt.Sprintf("%d/%s", p.ContainerPort, strings.ToLower(orDefault(p.Protocol, "TCP"))))
	}
	listen := flagValue(args, listenFlag[cmd.name])
	_, lp, _ := net.SplitHostPort(listen)
	if c.ReadinessProbe == nil {
		t.Errorf("%s: no readiness probe", where)
	}
	for kind, p := range map[string]*probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
		if p == nil {
			continue
		}
		var port any
		switch {
		case p.HTTPGet != nil:
			port = p.HTTPGet.Port
			m.probes = append(m.probes, probeUse{where: where + " " + kind + "Probe", role: cmd.name, path: p.HTTPGet.Path})
		case p.TCPSocket != nil:
			port = p.TCPSocket.Port
		default:
			t.Errorf("%s: %s probe is neither httpGet nor tcpSocket", where, kind)
			continue
		}
		n, ok := ports[fmt.Sprint(port)]
		if !ok || strconv.Itoa(n) != lp {
			t.Errorf("%s: %s probe on port %v; the container declares %v and listens on --%s %s", where, kind, port, c.Ports, listenFlag[cmd.name], listen)
		}
	}
	checkWritable(t, where, c, args, volumes)
}

// checkWritable: the root filesystem is read-only, so every directory
// flag must point into a mounted volume, and every mount must name one.
func checkWritable(t *testing.T, where string, c container, args []string, volumes map[string]bool) {
	for _, vm := range c.VolumeMounts {
		if !volumes[vm.Name] {
			t.Errorf("%s: volumeMount %s names no volume", where, vm.Name)
		}
	}
	for _, f := range []string{"data", "data-dir", "spool"} {
		p := flagValue(args, f)
		if p == "" {
			continue
		}
		ok := false
		for _, vm := range c.VolumeMounts {
			ok = ok || strings.HasPrefix(p+"/", strings.TrimSuffix(vm.MountPath, "/")+"/")
		}
		if !ok {
			t.Errorf("%s: --%s=%s is on no mounted volume (the root filesystem is read-only)", where, f, p)
		}
	}
}

var k8sVar = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// checkContainerEnv: what $(VAR) the args expand is defined, what is
// defined is expanded or read by the binary, and every ConfigMap or
// Secret key referred to exists (or is optional).
func (m *manifests) checkContainerEnv(t *testing.T, where string, c container, cmd *command, args string) {
	defined := map[string]bool{}
	for _, e := range c.Env {
		defined[e.Name] = true
		if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
			m.checkRef(t, where, "ConfigMap", *e.ValueFrom.ConfigMapKeyRef)
		}
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			m.checkRef(t, where, "Secret", *e.ValueFrom.SecretKeyRef)
		}
	}
	used := map[string]bool{}
	for _, v := range k8sVar.FindAllStringSubmatch(args, -1) {
		used[v[1]] = true
		if !defined[v[1]] {
			t.Errorf("%s: args expand $(%s), which no env entry defines (Kubernetes would pass it literally)", where, v[1])
		}
	}
	for name := range defined {
		if !used[name] && !cmd.env[name] && !runtimeEnv[name] {
			t.Errorf("%s: env %s is neither expanded in args nor read by aloft %s", where, name, cmd.name)
		}
	}
}

func (m *manifests) checkRef(t *testing.T, where, kind string, r keyRef) {
	o := m.find(kind, r.Name)
	if r.Optional && (o == nil || (o.Data[r.Key] == "" && o.StringData[r.Key] == "")) {
		return
	}
	if o == nil {
		t.Errorf("%s: refers to %s %s, which deploy/k8s does not define", where, kind, r.Name)
		return
	}
	if _, ok := o.Data[r.Key]; !ok {
		if _, ok := o.StringData[r.Key]; !ok {
			t.Errorf("%s: refers to key %s of %s %s, which has no such key", where, r.Key, kind, r.Name)
		}
	}
}
