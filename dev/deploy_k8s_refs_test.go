// deploy/k8s's references checked: Services and disruption budgets
// select the pods they mean, on ports those pods declare; kustomizations
// name resources, workloads and flags that exist.

package dev_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// renderKustomizations builds each kustomization with kubectl when it is
// installed: a patch path that matches nothing fails only there.
func renderKustomizations(t *testing.T, ks []*k8sObject) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Log("kubectl not installed: the kustomizations were not rendered")
		return
	}
	for _, k := range ks {
		if out, err := exec.Command(kubectl, "kustomize", filepath.Dir(k.file)).CombinedOutput(); err != nil {
			t.Errorf("kubectl kustomize %s: %v\n%s", filepath.Dir(k.file), err, out)
		}
	}
}

// podNameLabel is set on each StatefulSet pod by the controller, not by
// the template: a Service selecting one origin uses it.
const podNameLabel = "statefulset.kubernetes.io/pod-name"

// selects reports whether sel picks w's pods; with pod-name, the pod
// must be one of w's ordinals.
func selects(sel map[string]string, w *k8sObject) bool {
	rest := map[string]string{}
	for k, v := range sel {
		rest[k] = v
	}
	if pod, ok := rest[podNameLabel]; ok {
		delete(rest, podNameLabel)
		n, err := strconv.Atoi(strings.TrimPrefix(pod, w.Metadata.Name+"-"))
		if w.Kind != "StatefulSet" || err != nil || w.Spec.Replicas == nil || n < 0 || n >= *w.Spec.Replicas {
			return false
		}
	}
	return subset(rest, w.Spec.Template.Metadata.Labels)
}

func (m *manifests) selected(sel map[string]string) []*k8sObject {
	var out []*k8sObject
	for _, w := range m.workloads() {
		if len(sel) > 0 && selects(sel, w) {
			out = append(out, w)
		}
	}
	return out
}

func (m *manifests) checkService(t *testing.T, s *k8sObject) {
	where := s.file + ": Service " + s.Metadata.Name
	ws := m.selected(labelMap(s.Spec.Selector))
	if len(ws) == 0 {
		t.Errorf("%s: selector %v matches no workload's pods", where, s.Spec.Selector)
		return
	}
	for _, p := range s.Spec.Ports {
		for _, w := range ws {
			if !declaresPort(w, fmt.Sprint(p.TargetPort), orDefault(p.Protocol, "TCP")) {
				t.Errorf("%s: port %s targets %v/%s, which %s's containers do not declare", where, p.Name, p.TargetPort, orDefault(p.Protocol, "TCP"), w.Metadata.Name)
			}
		}
	}
	// One Service per pod: then every pod needs one, or that pod has no
	// stable address.
	if pod, ok := labelMap(s.Spec.Selector)[podNameLabel]; ok && strings.HasSuffix(pod, "-0") {
		w := ws[0]
		for i := range *w.Spec.Replicas {
			if len(m.podServices(w.Metadata.Name+"-"+strconv.Itoa(i))) == 0 {
				t.Errorf("%s: %s has %d replicas but no Service selects %s-%d", where, w.Metadata.Name, *w.Spec.Replicas, w.Metadata.Name, i)
			}
		}
	}
}

func (m *manifests) podServices(pod string) []*k8sObject {
	var out []*k8sObject
	for _, o := range m.objects {
		if o.Kind == "Service" && labelMap(o.Spec.Selector)[podNameLabel] == pod {
			out = append(out, o)
		}
	}
	return out
}

func declaresPort(w *k8sObject, port, proto string) bool {
	for _, c := range w.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			if (p.Name == port || strconv.Itoa(p.ContainerPort) == port) && orDefault(p.Protocol, "TCP") == proto {
				return true
			}
		}
	}
	return false
}

// checkKustomization: its resources exist, its replica counts and
// patches name objects that exist, and flags a patch adds to a
// container's args exist on that container's subcommand.
func (m *manifests) checkKustomization(t *testing.T, h *helpCache, k *k8sObject) {
	for _, r := range k.Resources {
		if _, err := os.Stat(filepath.Join(filepath.Dir(k.file), r)); err != nil {
			t.Errorf("%s: resource %s: %v", k.file, r, err)
		}
	}
	for _, r := range k.ReplicaCounts {
		if m.find("StatefulSet", r.Name) == nil && m.find("Deployment", r.Name) == nil {
			t.Errorf("%s: replicas for %s, which is no workload", k.file, r.Name)
		}
	}
	argsPath := regexp.MustCompile(`^/spec/template/spec/containers/(\d+)/args(/|$)`)
	for _, p := range k.Patches {
		w := m.find(p.Target.Kind, p.Target.Name)
		if w == nil {
			t.Errorf("%s: patch target %s %s does not exist", k.file, p.Target.Kind, p.Target.Name)
			continue
		}
		var ops []struct {
			Op    string `yaml:"op"`
			Path  string `yaml:"path"`
			Value any    `yaml:"value"`
		}
		if err := yaml.Unmarshal([]byte(p.Patch), &ops); err != nil || len(ops) == 0 {
			t.Errorf("%s: patch of %s is not a JSON 6902 op list: %v", k.file, p.Target.Name, err)
			continue
		}
		for _, op := range ops {
			sm := argsPath.FindStringSubmatch(op.Path)
			if sm == nil {
				continue
			}
			i, _ := strconv.Atoi(sm[1])
			cs := w.Spec.Template.Spec.Containers
			if i >= len(cs) {
				t.Errorf("%s: patch path %s: %s has %d containers", k.file, op.Path, w.Metadata.Name, len(cs))
				continue
			}
			inv := parseArgs(k.file+": patch "+op.Path, []string{fmt.Sprint(op.Value)})
			inv.words = parseArgs("", argv(t, k.file, cs[i])).words
			h.checkFlags(t, inv)
		}
	}
}

func flagValue(args []string, name string) string {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
		if a == "--"+name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func matchLabels(sel map[string]any) map[string]string {
	ml, _ := sel["matchLabels"].(map[string]any)
	return labelMap(ml)
}

func labelMap(m map[string]any) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
