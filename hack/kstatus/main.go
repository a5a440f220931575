// kstatus prints the status that sigs.k8s.io/cli-utils/pkg/kstatus (the library Flux, the
// cli-utils applier and kpt use) computes for each Kubernetes object given as JSON on stdin
// (one object, or a List such as `kubectl get -o json` prints): one JSON line per object,
// {"name", "status", "message"}. The tests read Lightship's conditions with the readers' own
// code instead of a copy of their rules.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type verdict struct {
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(err)
	}
	var object unstructured.Unstructured
	if err := object.UnmarshalJSON(input); err != nil {
		fail(err)
	}
	objects := []unstructured.Unstructured{object}
	if object.IsList() {
		list, err := object.ToList()
		if err != nil {
			fail(err)
		}
		objects = list.Items
	}
	encoder := json.NewEncoder(os.Stdout)
	for i := range objects {
		result, err := status.Compute(&objects[i])
		if err != nil {
			fail(err)
		}
		line := verdict{objects[i].GetName(), string(result.Status), result.Message}
		if err := encoder.Encode(line); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "kstatus:", err)
	os.Exit(1)
}
