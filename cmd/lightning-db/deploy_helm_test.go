package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

const chartDir = "../../deploy/helm/lightning-db"

// helmBinary finds helm on PATH or in $(go env GOPATH)/bin, where .ci/run
// installs it (go install helm.sh/helm/v4/cmd/helm); it skips the test
// when there is none outside CI.
func helmBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	if gp, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(gp)), "bin", "helm")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("helm not found on PATH or in $(go env GOPATH)/bin (.ci/run installs it with go install)")
	}
	t.Skip("helm not found on PATH or in $(go env GOPATH)/bin; go install helm.sh/helm/v4/cmd/helm@v4.3.2 to run this test")
	return ""
}

// k8sObject is the part of a rendered manifest the test checks.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		// Service
		ClusterIP string         `yaml:"clusterIP"`
		Selector  map[string]any `yaml:"selector"` // a Service's labels, a ServiceMonitor's matchLabels
		Ports     []struct {
			Name string `yaml:"name"`
			Port int    `yaml:"port"`
		} `yaml:"ports"`
		// StatefulSet
		ServiceName string `yaml:"serviceName"`
		Template    struct {
			Spec struct {
				SecurityContext map[string]any `yaml:"securityContext"`
				Containers      []k8sContainer `yaml:"containers"`
				Volumes         []struct {
					Name      string `yaml:"name"`
					ConfigMap struct {
						Name string `yaml:"name"`
					} `yaml:"configMap"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
		VolumeClaimTemplates []struct {
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
			Spec struct {
				Resources struct {
					Requests map[string]string `yaml:"requests"`
				} `yaml:"resources"`
			} `yaml:"spec"`
		} `yaml:"volumeClaimTemplates"`
		// ServiceMonitor
		Endpoints []struct {
			Port string `yaml:"port"`
			Path string `yaml:"path"`
		} `yaml:"endpoints"`
	} `yaml:"spec"`
}

type k8sContainer struct {
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	LivenessProbe   k8sProbe       `yaml:"livenessProbe"`
	ReadinessProbe  k8sProbe       `yaml:"readinessProbe"`
	StartupProbe    k8sProbe       `yaml:"startupProbe"`
	SecurityContext map[string]any `yaml:"securityContext"`
	VolumeMounts    []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type k8sProbe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

// helmTemplate renders the chart with args and decodes every document.
func helmTemplate(t *testing.T, helm string, args ...string) map[string][]k8sObject {
	t.Helper()
	out, err := exec.Command(helm, append([]string{"template", "rel", chartDir}, args...)...).CombinedOutput()
	require.NoError(t, err, "helm template:\n%s", out)
	byKind := map[string][]k8sObject{}
	dec := yaml.NewDecoder(bytes.NewReader(out))
	for {
		var o k8sObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "rendered YAML:\n%s", out)
		if o.Kind != "" {
			byKind[o.Kind] = append(byKind[o.Kind], o)
		}
	}
	return byKind
}

// TestHelmChart lints deploy/helm/lightning-db and checks what it renders:
// a StatefulSet with a volume claim mounted at the data directory, /health
// and /ready probes on the HTTP port, a non-root security context, the
// Services, a ServiceMonitor only when serviceMonitor.enabled, and a
// configuration file the real server accepts.
func TestHelmChart(t *testing.T) {
	helm := helmBinary(t)
	for _, set := range []string{"serviceMonitor.enabled=false", "serviceMonitor.enabled=true,service.mqttPort=0"} {
		out, err := exec.Command(helm, "lint", "--strict", "--set", set, chartDir).CombinedOutput()
		require.NoError(t, err, "helm lint --set %s:\n%s", set, out)
		require.NotContains(t, string(out), "[WARNING]")
		require.NotContains(t, string(out), "[ERROR]")
	}

	objs := helmTemplate(t, helm)
	require.Len(t, objs["StatefulSet"], 1)
	require.Len(t, objs["ConfigMap"], 1)
	require.Len(t, objs["Service"], 2)
	require.Empty(t, objs["ServiceMonitor"], "ServiceMonitor rendered with serviceMonitor.enabled=false")

	sts := objs["StatefulSet"][0]
	require.Equal(t, "rel-lightning-db-headless", sts.Spec.ServiceName)
	require.Len(t, sts.Spec.VolumeClaimTemplates, 1)
	require.Equal(t, "data", sts.Spec.VolumeClaimTemplates[0].Metadata.Name)
	require.Equal(t, "20Gi", sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests["storage"])
	pod := sts.Spec.Template.Spec
	require.Equal(t, true, pod.SecurityContext["runAsNonRoot"])
	require.Equal(t, 65532, pod.SecurityContext["runAsUser"])
	require.Equal(t, 65532, pod.SecurityContext["fsGroup"])
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	require.Equal(t, "lightning-db:dev", c.Image)
	require.Equal(t, []string{"--config", "/etc/lightning-db/lightning-db.yaml"}, c.Args)
	require.Equal(t, "/health", c.LivenessProbe.HTTPGet.Path)
	require.Equal(t, "/ready", c.ReadinessProbe.HTTPGet.Path)
	require.Equal(t, "/health", c.StartupProbe.HTTPGet.Path)
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	require.Equal(t, map[string]int{"http": 8086, "mqtt": 1883}, ports)
	require.Equal(t, "http", c.LivenessProbe.HTTPGet.Port)
	require.Equal(t, "http", c.ReadinessProbe.HTTPGet.Port)
	require.Equal(t, false, c.SecurityContext["allowPrivilegeEscalation"])
	require.Equal(t, true, c.SecurityContext["readOnlyRootFilesystem"])
	require.Equal(t, map[string]any{"drop": []any{"ALL"}}, c.SecurityContext["capabilities"])
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	require.Equal(t, "/var/lib/lightning-db", mounts["data"])
	require.Equal(t, "/etc/lightning-db", mounts["config"])
	require.Equal(t, "rel-lightning-db", pod.Volumes[0].ConfigMap.Name)

	// The rendered configuration is one the server starts with (its
	// decoder refuses unknown keys); flags move its addresses to loopback.
	cm := objs["ConfigMap"][0]
	require.Equal(t, "rel-lightning-db", cm.Metadata.Name)
	cfg := filepath.Join(t.TempDir(), "lightning-db.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(cm.Data["lightning-db.yaml"]), 0o644))
	require.Contains(t, cm.Data["lightning-db.yaml"], "data_dir: /var/lib/lightning-db")
	p := startServer(t, t.TempDir(), "--config", cfg)
	p.stop()

	var api k8sObject
	for _, s := range objs["Service"] {
		if s.Spec.ClusterIP != "None" {
			api = s
		}
	}
	require.Equal(t, "rel-lightning-db", api.Metadata.Name)

	// The toggle: a ServiceMonitor scraping /metrics of the API Service only.
	objs = helmTemplate(t, helm, "--set", "serviceMonitor.enabled=true", "--set", "serviceMonitor.labels.release=prom")
	require.Len(t, objs["ServiceMonitor"], 1)
	sm := objs["ServiceMonitor"][0]
	require.Equal(t, "prom", sm.Metadata.Labels["release"])
	require.Len(t, sm.Spec.Endpoints, 1)
	require.Equal(t, "http", sm.Spec.Endpoints[0].Port)
	require.Equal(t, "/metrics", sm.Spec.Endpoints[0].Path)
	match, _ := sm.Spec.Selector["matchLabels"].(map[string]any)
	require.NotNil(t, match, "ServiceMonitor without selector.matchLabels")
	for k, v := range match {
		require.Equal(t, v, api.Metadata.Labels[k], "ServiceMonitor selects %s=%v, the API Service has %q", k, v, api.Metadata.Labels[k])
	}
	require.Equal(t, "api", match["app.kubernetes.io/component"], "the ServiceMonitor would also select the headless Service")

	// Values reach the manifests: a storage size, no MQTT port.
	objs = helmTemplate(t, helm, "--set", "persistence.size=5Gi", "--set", "service.mqttPort=0")
	sts = objs["StatefulSet"][0]
	require.Equal(t, "5Gi", sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests["storage"])
	require.Len(t, sts.Spec.Template.Spec.Containers[0].Ports, 1)
}
