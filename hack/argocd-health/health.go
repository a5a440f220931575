// Package argocdhealth runs Argo CD health checks the way Argo CD runs them: the script in
// gopher-lua (Lua 5.1, the interpreter Argo CD embeds), the object as the global `obj`,
// decoded from YAML through JSON into Lua tables (every number a float), and the table it
// returns read as {status, message}. The tests beside it run every health_test.yaml under
// manifests/argocd/resource_customizations, the layout Argo CD keeps upstream.
package argocdhealth

import (
	"context"
	"fmt"
	"time"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"
)

// Status is a health status as Argo CD reads it from the script's table.
type Status struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// The statuses Argo CD accepts; any other is reported as Unknown.
var validStatuses = map[string]bool{
	"Unknown": true, "Progressing": true, "Suspended": true,
	"Healthy": true, "Degraded": true, "Missing": true,
}

// Object decodes a Kubernetes object from YAML as Argo CD's tests do: YAML to JSON, then JSON
// into Go values, so every number is a float64.
func Object(document []byte) (map[string]any, error) {
	object := map[string]any{}
	if err := yaml.Unmarshal(document, &object); err != nil {
		return nil, err
	}
	return object, nil
}

// Run runs a health script on an object. With openLibs the script gets every library of
// gopher-lua, as Argo CD gives its built-in scripts; without, only the package, base and table
// libraries, as Argo CD runs a script of argocd-cm unless resource.customizations.useOpenLibs
// is true (Argo CD also adds a reduced os library, which Lightship's script does not use).
func Run(script string, object map[string]any, openLibs bool) (Status, error) {
	L := lua.NewState(lua.Options{SkipOpenLibs: !openLibs})
	defer L.Close()
	if !openLibs {
		for _, library := range []struct {
			name string
			open lua.LGFunction
		}{
			{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable},
		} {
			call := lua.P{Fn: L.NewFunction(library.open), Protect: true}
			if err := L.CallByParam(call, lua.LString(library.name)); err != nil {
				return Status{}, err
			}
		}
	}
	// Argo CD gives a script one second.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	L.SetContext(ctx)
	L.SetGlobal("obj", decodeValue(L, object))
	if err := L.DoString(script); err != nil {
		return Status{}, err
	}
	returned, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		return Status{}, fmt.Errorf("expect table output from Lua script, not %s", L.Get(-1).Type())
	}
	status, err := field(returned, "status")
	if err != nil {
		return Status{}, err
	}
	message, err := field(returned, "message")
	if err != nil {
		return Status{}, err
	}
	if !validStatuses[status] {
		return Status{Status: "Unknown", Message: "Lua returned an invalid health status"}, nil
	}
	return Status{Status: status, Message: message}, nil
}

// field reads a string field of the returned table; Argo CD decodes the table through JSON
// into string fields, so anything but a string (or nothing) is an error there too.
func field(table *lua.LTable, name string) (string, error) {
	switch value := table.RawGetString(name).(type) {
	case lua.LString:
		return string(value), nil
	case *lua.LNilType:
		return "", nil
	default:
		return "", fmt.Errorf("the returned %s is a %s, not a string", name, value.Type())
	}
}

// decodeValue makes Lua values of JSON-decoded Go values, as Argo CD's util/lua does.
func decodeValue(L *lua.LState, value any) lua.LValue {
	switch converted := value.(type) {
	case bool:
		return lua.LBool(converted)
	case float64:
		return lua.LNumber(converted)
	case string:
		return lua.LString(converted)
	case []any:
		array := L.CreateTable(len(converted), 0)
		for _, item := range converted {
			array.Append(decodeValue(L, item))
		}
		return array
	case map[string]any:
		table := L.CreateTable(0, len(converted))
		for key, item := range converted {
			table.RawSetH(lua.LString(key), decodeValue(L, item))
		}
		return table
	}
	return lua.LNil
}
