package argocdhealth

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const argocd = "../../manifests/argocd"

var customizations = filepath.Join(argocd, "resource_customizations")

type healthTests struct {
	Tests []struct {
		HealthStatus Status `json:"healthStatus"`
		InputPath    string `json:"inputPath"`
	} `json:"tests"`
}

// A health check as Argo CD finds it: built in (resource_customizations/<group>/<kind>/health.lua,
// every library open), or registered through argocd-cm (the snippet's key, and the libraries
// its useOpenLibs key allows).
type check struct {
	how      string
	script   string
	openLibs bool
}

// checks are the two ways the health check of dir (<group>/<kind>) reaches Argo CD.
func checks(t *testing.T, dir string) []check {
	t.Helper()
	builtIn, err := os.ReadFile(filepath.Join(dir, "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	relative, err := filepath.Rel(customizations, dir)
	if err != nil {
		t.Fatal(err)
	}
	group, kind := filepath.Split(relative)
	key := strings.TrimSuffix(group, "/") + "_" + kind
	data := snippet(t)
	registered, found := data["resource.customizations.health."+key]
	if !found {
		t.Fatalf("argocd-cm-snippet.yaml does not register %s (resource.customizations.health.%s)", relative, key)
	}
	if registered != string(builtIn) {
		t.Errorf("argocd-cm-snippet.yaml registers another script than %s/health.lua: copy it in, indented", relative)
	}
	return []check{
		{"built in", string(builtIn), true},
		{"argocd-cm", registered, data["resource.customizations.useOpenLibs."+key] == "true"},
	}
}

func snippet(t *testing.T) map[string]string {
	t.Helper()
	document, err := os.ReadFile(filepath.Join(argocd, "argocd-cm-snippet.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var configMap struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(document, &configMap); err != nil {
		t.Fatal(err)
	}
	return configMap.Data
}

func TestHealthChecks(t *testing.T) {
	found := 0
	err := filepath.WalkDir(customizations, func(path string, entry fs.DirEntry, err error) error {
		if err != nil || entry.IsDir() || entry.Name() != "health.lua" {
			return err
		}
		found++
		dir := filepath.Dir(path)
		document, err := os.ReadFile(filepath.Join(dir, "health_test.yaml"))
		if err != nil {
			return err
		}
		var tests healthTests
		if err := yaml.UnmarshalStrict(document, &tests); err != nil {
			return err
		}
		if len(tests.Tests) == 0 {
			t.Errorf("%s/health_test.yaml lists no test", dir)
		}
		for _, check := range checks(t, dir) {
			for _, test := range tests.Tests {
				name := check.how + "/" + strings.TrimSuffix(filepath.Base(test.InputPath), ".yaml")
				t.Run(name, func(t *testing.T) {
					input, err := os.ReadFile(filepath.Join(dir, test.InputPath))
					if err != nil {
						t.Fatal(err)
					}
					object, err := Object(input)
					if err != nil {
						t.Fatal(err)
					}
					got, err := Run(check.script, object, check.openLibs)
					if err != nil {
						t.Fatal(err)
					}
					if got != test.HealthStatus {
						t.Errorf("got %+v, want %+v", got, test.HealthStatus)
					}
				})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found == 0 {
		t.Fatalf("no health.lua under %s", customizations)
	}
}

// Every file under testdata/ is some test's input: none is forgotten.
func TestEveryTestdataFileIsATest(t *testing.T) {
	matches, err := filepath.Glob(filepath.Join(customizations, "*", "*", "testdata", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, match := range matches {
		dir := filepath.Dir(filepath.Dir(match))
		document, err := os.ReadFile(filepath.Join(dir, "health_test.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var tests healthTests
		if err := yaml.UnmarshalStrict(document, &tests); err != nil {
			t.Fatal(err)
		}
		for _, test := range tests.Tests {
			listed[filepath.Join(dir, test.InputPath)] = true
		}
		if !listed[match] {
			t.Errorf("%s is no test's input (health_test.yaml)", match)
		}
	}
}

// The harness itself: a script that needs a library Argo CD does not open for argocd-cm
// scripts fails there, and a number reaches the script as a float that concatenates as a
// whole number, as in Argo CD.
func TestLibrariesAndNumbersAsInArgoCD(t *testing.T) {
	object, err := Object([]byte("metadata: {generation: 7}\n"))
	if err != nil {
		t.Fatal(err)
	}
	formatted := `return {status = "Healthy", message = string.format("%d", obj.metadata.generation)}`
	if _, err := Run(formatted, object, false); err == nil {
		t.Error("string.format ran without the standard libraries")
	}
	if got, err := Run(formatted, object, true); err != nil || got.Message != "7" {
		t.Errorf("with the standard libraries: %+v, %v", got, err)
	}
	concatenated := `return {status = "Healthy", message = "v" .. obj.metadata.generation .. " " .. type(obj.metadata.generation)}`
	if got, err := Run(concatenated, object, false); err != nil || got.Message != "v7 number" {
		t.Errorf("concatenated: %+v, %v", got, err)
	}
	invalid := `return {status = "Fine"}`
	if got, err := Run(invalid, object, false); err != nil || got.Status != "Unknown" {
		t.Errorf("an invalid status: %+v, %v", got, err)
	}
}
