// Uploads a file with tus-js-client (the client browsers and Node apps use); the link drops
// halfway through the PATCH that starts at <cut offset>, once the server has stored up to
// <kept offset> (HEAD, asked on another connection, says so), and a new Upload resumes from the
// server's offset. <chunk bytes> "default" leaves tus-js-client's chunkSize at its default (the
// whole file in one PATCH).
//
//   node tus_upload.cjs <endpoint> <authorization header> <file> <chunk bytes> <cut offset> \
//        <kept offset>
//
// Prints one JSON line: the upload's URL, the offset the server reported when the second
// Upload resumed, and the item the server registered (X-Casefile-Evidence).
"use strict";

const fs = require("node:fs");
const { PassThrough } = require("node:stream");
const tus = require("tus-js-client");

const [endpoint, authorization, path, chunkText, cutText, keptText] = process.argv.slice(2);
const chunkSize = chunkText === "default" ? undefined : Number(chunkText);
const cutOffset = Number(cutText);
const keptOffset = Number(keptText);
const KEPT_WAIT_MS = 60000;

// The upload's offset as the server reports it (HEAD), until it is `kept`.
async function serverHas(url, kept) {
  const deadline = Date.now() + KEPT_WAIT_MS;
  for (;;) {
    const answer = await fetch(url, {
      method: "HEAD",
      headers: { Authorization: authorization, "Tus-Resumable": "1.0.0" },
    });
    const offset = Number(answer.headers.get("Upload-Offset"));
    if (offset === kept) return;
    if (Date.now() > deadline) throw new Error(`the server holds ${offset}, not ${kept}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
const file = fs.readFileSync(path);

// tus-js-client's own Node HTTP stack, except that the first PATCH at `cutOffset` sends half
// its body (announcing the whole, Content-Length as ever) and then loses its connection (the
// socket is destroyed), as a dropped link would.
class LinkDropsOnce {
  constructor() {
    this.inner = new tus.DefaultHttpStack();
    this.dropped = false;
  }

  createRequest(method, url) {
    const request = this.inner.createRequest(method, url);
    const send = request.send.bind(request);
    request.send = (body) => {
      if (this.dropped || method !== "PATCH") return send(body);
      if (Number(request.getHeader("Upload-Offset")) !== cutOffset) return send(body);
      this.dropped = true;
      const half = new PassThrough();
      half.size = body.length; // the stack sends it as Content-Length
      const answered = send(half);
      const lost = new Promise((resolve, reject) => {
        half.write(body.subarray(0, Math.floor(body.length / 2)), () => {
          serverHas(request.getURL(), keptOffset).then(
            () =>
              setTimeout(() => {
                request.getUnderlyingObject().destroy();
                reject(new Error("the link dropped"));
              }, 300),
            (error) => {
              process.stderr.write(`tus-js-client test: ${error}\n`);
              process.exit(1);
            },
          );
        });
      });
      return Promise.race([answered, lost]);
    };
    return request;
  }

  getName() {
    return "LinkDropsOnce";
  }
}

function options(extra) {
  return {
    endpoint,
    headers: { Authorization: authorization },
    ...(chunkSize === undefined ? {} : { chunkSize }),
    retryDelays: null, // no silent retries: the test resumes by itself, as a new process would
    storeFingerprintForResuming: false,
    metadata: {
      filename: "interview-W-31.mp4",
      filetype: "video/mp4",
      relativePath: "field/W-31/interview-W-31.mp4", // as Uppy sends it: not an item field
      title: "Interview W-31",
    },
    ...extra,
  };
}

// 1. The first Upload sends whole chunks until the link drops in the middle of one.
function interrupted() {
  return new Promise((resolve, reject) => {
    const stack = new LinkDropsOnce();
    const upload = new tus.Upload(
      file,
      options({
        httpStack: stack,
        onSuccess() {
          reject(new Error("the upload finished although its link dropped"));
        },
        onError(error) {
          if (stack.dropped && upload.url) resolve(upload.url);
          else reject(error);
        },
      }),
    );
    upload.start();
  });
}

// 2. A new Upload, told only the upload's URL, asks the server where it stopped (HEAD) and
//    sends the rest.
function resumed(uploadUrl) {
  return new Promise((resolve, reject) => {
    const seen = { uploadUrl, resumedFrom: null, evidence: null };
    const upload = new tus.Upload(
      file,
      options({
        uploadUrl,
        onAfterResponse(request, response) {
          if (request.getMethod() === "HEAD") {
            seen.resumedFrom = Number(response.getHeader("Upload-Offset"));
          }
          const evidence = response.getHeader("X-Casefile-Evidence");
          if (evidence) seen.evidence = evidence;
        },
        onSuccess() {
          resolve(seen);
        },
        onError: reject,
      }),
    );
    upload.start();
  });
}

interrupted()
  .then(resumed)
  .then((seen) => {
    process.stdout.write(`${JSON.stringify(seen)}\n`);
  })
  .catch((error) => {
    process.stderr.write(`tus-js-client: ${error}\n`);
    process.exit(1);
  });
