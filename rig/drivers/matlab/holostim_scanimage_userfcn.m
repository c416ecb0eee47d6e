function holostim_scanimage_userfcn(src, evt, varargin)
%HOLOSTIM_SCANIMAGE_USERFCN  Publish ScanImage frames and acquisition events to holostim over ZMQ.
%
%   A ScanImage user function (Settings > User Functions). Add it once for each of the events
%   acqModeStart, acqStart, frameAcquired, acqDone and acqModeDone, with the arguments
%       {'tcp://127.0.0.1:5560'}           the rig profile's zmq.imaging endpoint (this function binds it)
%       {'tcp://127.0.0.1:5560', [1 2]}    ... and the channels to send (default: all acquired channels)
%   holostim's imaging bridge (rig/drivers/scanimage_bridge.py) connects to that endpoint.
%
%   ZMQ bindings: matlab-zmq (https://github.com/fagg/matlab-zmq), its zmq.core.* MEX functions
%   (ctx_new, socket, bind, send, close, ctx_term) compiled against libzmq and on the MATLAB path.
%
%   Wire format (rig/wire/framing.py; the models are in rig/wire/messages.py), one multipart message each:
%     frame, per acquired frame and channel:
%       part 1  {"type":"imaging_frame","counter":N,"timestamp_s":T,"plane":P,"channel":C,"z_um":Z}
%       part 2  {"arrays":[{"dtype":"<i2","shape":[lines,pixels]}]}
%       part 3  the image's raw bytes (MATLAB's column-major [pixels x lines] buffer is numpy's row-major
%               [lines x pixels] image: rows are scan lines, no copy or transpose needed)
%     event:
%       part 1  {"type":"imaging_event","name":"acqModeStart","counter":N,"timestamp_s":T}
%   counter is ScanImage's frameNumberAcqMode (holostim counts gaps as lost frames); timestamp_s is the
%   frame's frameTimestamp, seconds from the acquisition trigger; plane is 0-based.
%
%   Call holostim_scanimage_userfcn('close') to close the socket (e.g. before exiting ScanImage).
%
%   The PUB socket never blocks ScanImage: if holostim is not keeping up, ZMQ drops messages at its high-water
%   mark and holostim reports the lost frames.

persistent ctx sock endpoint_bound

if ischar(src) && strcmp(src, 'close')
    close_socket();
    return
end

if isempty(varargin) || ~ischar(varargin{1})
    error('holostim:userfcn', 'give the ZMQ endpoint as the first user-function argument, e.g. {''tcp://127.0.0.1:5560''}');
end
endpoint = varargin{1};
channels = [];
if numel(varargin) >= 2
    channels = varargin{2};
end

if isempty(sock) || ~strcmp(endpoint_bound, endpoint)
    close_socket();
    ctx = zmq.core.ctx_new();
    sock = zmq.core.socket(ctx, 'ZMQ_PUB');
    zmq.core.bind(sock, endpoint);
    endpoint_bound = endpoint;
end

hSI = src.hSI;
switch evt.EventName
    case 'frameAcquired'
        send_frames(hSI, channels);
    case {'acqModeStart', 'acqStart', 'acqDone', 'acqModeDone', 'acqAbort'}
        [counter, t] = last_counter(hSI);
        send_parts({struct('type', 'imaging_event', 'name', evt.EventName, ...
                           'counter', counter, 'timestamp_s', t)});
end

    function send_frames(hSI, channels)
        stripe = hSI.hDisplay.stripeDataBuffer{hSI.hDisplay.stripeDataBufferPointer};
        roi = stripe.roiData{1};
        z = roi.zs(1);
        if ~isfinite(z)
            z = 0;
        end
        plane = plane_index(hSI, stripe.frameNumberAcqMode, z);
        for k = 1:numel(stripe.channelNumbers)
            channel = stripe.channelNumbers(k);
            if ~isempty(channels) && ~any(channels == channel)
                continue
            end
            img = roi.imageData{k}{1};
            header = struct('type', 'imaging_frame', 'counter', double(stripe.frameNumberAcqMode), ...
                            'timestamp_s', double(stripe.frameTimestamp), 'plane', plane, ...
                            'channel', double(channel), 'z_um', double(z));
            spec = struct('dtype', dtype_of(img), 'shape', [size(img, 2), size(img, 1)]);
            send_parts({header, struct('arrays', {{spec}}), typecast(reshape(img, 1, []), 'uint8')});
        end
    end

    function send_parts(parts)
        for i = 1:numel(parts)
            part = parts{i};
            if isstruct(part)
                part = unicode2native(jsonencode(part), 'UTF-8');
            end
            if i < numel(parts)
                zmq.core.send(sock, part, 'ZMQ_SNDMORE');
            else
                zmq.core.send(sock, part);
            end
        end
    end

    function close_socket()
        if ~isempty(sock)
            zmq.core.close(sock);
            zmq.core.ctx_term(ctx);
        end
        sock = [];
        ctx = [];
        endpoint_bound = '';
    end
end

function plane = plane_index(hSI, frame_number, z)
% 0-based plane: the nearest slice depth if ScanImage lists them, else the frame number modulo the slices.
plane = 0;
try
    zs = hSI.hStackManager.zs;
    if numel(zs) > 1
        [~, i] = min(abs(zs - z));
        plane = i - 1;
        return
    end
catch
end
try
    n = hSI.hStackManager.numSlices;
    plane = mod(double(frame_number) - 1, max(n, 1));
catch
end
end

function [counter, t] = last_counter(hSI)
counter = 0;
t = 0;
try
    stripe = hSI.hDisplay.stripeDataBuffer{hSI.hDisplay.stripeDataBufferPointer};
    if ~isempty(stripe)
        counter = double(stripe.frameNumberAcqMode);
        t = double(stripe.frameTimestamp);
    end
catch
end
end

function d = dtype_of(img)
% numpy dtype string (little-endian) of a MATLAB array's class.
switch class(img)
    case 'int16',  d = '<i2';
    case 'uint16', d = '<u2';
    case 'uint8',  d = '|u1';
    case 'int8',   d = '|i1';
    case 'int32',  d = '<i4';
    case 'uint32', d = '<u4';
    case 'single', d = '<f4';
    case 'double', d = '<f8';
    otherwise
        error('holostim:userfcn', 'cannot send images of class %s', class(img));
end
end
