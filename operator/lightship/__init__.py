"""Lightship: the deployment model of a managed container service, as a Kubernetes operator."""

GROUP = "lightship.dev"
VERSION = "v1alpha1"
KIND = "ContainerServiceDeployment"
PLURAL = "containerservicedeployments"
