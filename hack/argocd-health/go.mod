// Runs the Argo CD health checks of manifests/argocd/resource_customizations under gopher-lua,
// as Argo CD does (see health.go).
module lightship.dev/hack/argocd-health

go 1.26.0

require (
	github.com/yuin/gopher-lua v1.1.1
	sigs.k8s.io/yaml v1.6.0
)

require go.yaml.in/yaml/v2 v2.4.2 // indirect
