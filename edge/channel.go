// channel_self (reference §3): devices set (POST), get (PUT), list (GET)
// and unset (DELETE) their own channel. Plugins from x.34 keep the choice
// on the device; older ones need the server to store it, which the edge
// forwards to the origin.

package edge

import (
	"context"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/aloft/aloft/capgo"
)

// selfAssignTimeout bounds the origin write of an old plugin's setChannel.
const selfAssignTimeout = 10 * time.Second

type channelError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	Channel string `json:"channel,omitempty"`
	AppID   string `json:"app_id,omitempty"`
}

func (n *Node) handleChannelSelf(ctx *fasthttp.RequestCtx, method string) {
	var in capgo.Info
	var err error
	switch {
	case method == fasthttp.MethodGet || method == fasthttp.MethodDelete && len(ctx.PostBody()) == 0:
		in, err = capgo.DecodeInfoQuery(func(k string) string { return string(ctx.QueryArgs().Peek(k)) })
	case method == fasthttp.MethodPost || method == fasthttp.MethodPut || method == fasthttp.MethodDelete:
		in, err = capgo.DecodeInfo(ctx.PostBody())
	default:
		methodNotAllowed(ctx, "GET, POST, PUT, DELETE")
		return
	}
	if err != nil {
		decodeFailure(ctx, err)
		return
	}
	if n.limited(ctx, in.DeviceID, in.AppID) {
		return
	}
	if in.AppID == "" || in.Platform == "" || method != fasthttp.MethodGet && in.DeviceID == "" {
		writeDeviceError(ctx, fasthttp.StatusBadRequest, capgo.CodeInvalidJSONBody, "Cannot parse body", "app_id, platform and device_id are required")
		return
	}
	av := n.view.Load().apps[lowerASCII(in.AppID)]
	if av == nil {
		writeJSON(ctx, fasthttp.StatusOK, channelError{Error: "app_not_found", Message: "App " + in.AppID + " is not registered on this server", AppID: in.AppID})
		return
	}
	switch method {
	case fasthttp.MethodPost:
		n.setChannel(ctx, av, &in)
	case fasthttp.MethodPut:
		getChannel(ctx, av, &in)
	case fasthttp.MethodGet:
		listChannels(ctx, av, &in)
	default:
		n.unsetChannel(ctx, av, &in)
	}
}

func (n *Node) setChannel(ctx *fasthttp.RequestCtx, av *appView, in *capgo.Info) {
	if in.Channel == "" {
		writeJSON(ctx, fasthttp.StatusOK, channelError{Error: "missing_channel", Message: "Missing channel"})
		return
	}
	cv := av.channels[in.Channel]
	if cv == nil {
		writeJSON(ctx, fasthttp.StatusOK, channelError{Error: "channel_not_found", Message: "Cannot find channel", Channel: in.Channel, AppID: in.AppID})
		return
	}
	local := capgo.FeaturesOf(in.PluginVersion).LocalChannel
	if o := av.devs.get(in.DeviceID); o != nil && !o.SelfSet && !local {
		writeJSON(ctx, fasthttp.StatusOK, channelError{Error: "cannot_override", Message: "The device is pinned to a channel by an operator"})
		return
	}
	switch {
	case cv.ch.AllowDeviceSelfSet:
		if !local && !n.selfAssign(ctx, av.app.ID, in.DeviceID, in.Channel) {
			return
		}
		if local {
			writeRaw(ctx, fasthttp.StatusOK, `{"status":"ok","allowSet":true}`)
			return
		}
		writeRaw(ctx, fasthttp.StatusOK, `{"status":"ok"}`)
	case cv.ch.Public && !local:
		// Old plugins: choosing the main channel removes the override.
		if n.selfAssign(ctx, av.app.ID, in.DeviceID, "") {
			writeRaw(ctx, fasthttp.StatusOK, `{"status":"ok"}`)
		}
	case cv.ch.Public:
		writeJSON(ctx, fasthttp.StatusOK, channelError{Error: "public_channel_self_set_not_allowed", Message: "This channel is public and does not allow device self-assignment. Unset the channel and the device will automatically use the public channel.", Channel: in.Channel, AppID: in.AppID})
	default:
		writeJSON(ctx, fasthttp.StatusOK, channelError{Error: "channel_self_set_not_allowed", Message: "This channel does not allow devices to self associate", Channel: in.Channel, AppID: in.AppID})
	}
}

// selfAssign writes through to the origin; on failure it answers 503 so the
// plugin can retry, and reports false.
func (n *Node) selfAssign(ctx *fasthttp.RequestCtx, app, device, channel string) bool {
	c, cancel := context.WithTimeout(context.Background(), selfAssignTimeout)
	defer cancel()
	if err := n.cfg.Origin.SelfAssign(c, app, device, channel); err != nil {
		n.metrics.originErrors.WithLabelValues("self_assign").Inc()
		writeDeviceError(ctx, fasthttp.StatusServiceUnavailable, "origin_unavailable", "Cannot store the channel right now; retry later", "")
		return false
	}
	return true
}

type channelAnswer struct {
	Channel  string `json:"channel"`
	Status   string `json:"status"`
	AllowSet *bool  `json:"allowSet,omitempty"`
}

// getChannel reports an operator or stored override first, then the
// channel the device says it uses, then the real public channel (Capgo
// hard-codes "production" there).
func getChannel(ctx *fasthttp.RequestCtx, av *appView, in *capgo.Info) {
	if o := av.devs.get(in.DeviceID); o != nil && av.channels[o.Channel] != nil {
		allow := av.channels[o.Channel].ch.AllowDeviceSelfSet
		writeJSON(ctx, fasthttp.StatusOK, channelAnswer{Channel: o.Channel, Status: "override", AllowSet: &allow})
		return
	}
	if in.Channel != "" {
		t := true
		writeJSON(ctx, fasthttp.StatusOK, channelAnswer{Channel: in.Channel, Status: "override", AllowSet: &t})
		return
	}
	if in.DefaultChannel != "" {
		writeJSON(ctx, fasthttp.StatusOK, channelAnswer{Channel: in.DefaultChannel, Status: "default"})
		return
	}
	if cv := av.publicChannel(in.Platform); cv != nil {
		writeJSON(ctx, fasthttp.StatusOK, channelAnswer{Channel: cv.ch.Name, Status: "default"})
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, channelError{Error: "channel_not_found", Message: "No public channel for " + in.Platform, AppID: in.AppID})
}

type listedChannel struct {
	ID           int64  `json:"id"`
	Name         string `json:"name"`
	Public       bool   `json:"public"`
	AllowSelfSet bool   `json:"allow_self_set"`
}

// listChannels lists the channels this device could use (§3, GET).
func listChannels(ctx *fasthttp.RequestCtx, av *appView, in *capgo.Info) {
	out := []listedChannel{}
	for _, cv := range av.ordered {
		c := cv.ch
		if !c.AllowsPlatform(in.Platform) || !(c.Public || c.AllowDeviceSelfSet) {
			continue
		}
		if in.IsEmulator && !c.AllowEmulator || !in.IsEmulator && !c.AllowDevice || in.IsProd && !c.AllowProd || !in.IsProd && !c.AllowDev {
			continue
		}
		out = append(out, listedChannel{ID: c.ID, Name: c.Name, Public: c.Public, AllowSelfSet: c.AllowDeviceSelfSet})
	}
	writeJSON(ctx, fasthttp.StatusOK, out)
}

// unsetChannel is only sent by plugins before x.34 (newer ones unset
// locally): it removes a stored self-assignment.
func (n *Node) unsetChannel(ctx *fasthttp.RequestCtx, av *appView, in *capgo.Info) {
	o := av.devs.get(in.DeviceID)
	switch {
	case o == nil:
		writeRaw(ctx, fasthttp.StatusOK, `{"status":"ok"}`)
	case !o.SelfSet:
		writeJSON(ctx, fasthttp.StatusOK, channelError{Error: "cannot_override", Message: "The device is pinned to a channel by an operator"})
	case n.selfAssign(ctx, av.app.ID, in.DeviceID, ""):
		writeRaw(ctx, fasthttp.StatusOK, `{"status":"ok"}`)
	}
}
