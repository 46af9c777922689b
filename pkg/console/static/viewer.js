// The 3D view of a case's de-identified models: three.js with its STL,
// 3MF and OBJ loaders, reading the model through the console.
import * as THREE from "three";
import { STLLoader } from "three/addons/loaders/STLLoader.js";
import { ThreeMFLoader } from "three/addons/loaders/3MFLoader.js";
import { OBJLoader } from "three/addons/loaders/OBJLoader.js";
import { OrbitControls } from "three/addons/controls/OrbitControls.js";

const canvas = document.getElementById("viewer");
const status = document.getElementById("viewer-status");
let renderer = null, scene, camera, controls, current = null, home = null;

function say(text) { status.textContent = text; }

function setup() {
  try {
    renderer = new THREE.WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
  } catch (e) {
    renderer = null;
    return;
  }
  renderer.setPixelRatio(1);
  scene = new THREE.Scene();
  scene.background = new THREE.Color(0x20262c);
  camera = new THREE.PerspectiveCamera(40, canvas.width / canvas.height, 0.1, 100000);
  camera.up.set(0, 0, 1);
  scene.add(new THREE.HemisphereLight(0xffffff, 0x445566, 2.2));
  const key = new THREE.DirectionalLight(0xffffff, 1.6);
  key.position.set(1, 2, 3);
  camera.add(key);
  scene.add(camera);
  controls = new OrbitControls(camera, canvas);
  controls.addEventListener("change", draw);
}

function draw() { if (renderer) { renderer.render(scene, camera); } }

function triangles(obj) {
  let n = 0;
  obj.traverse((o) => {
    if (o.isMesh && o.geometry) {
      const g = o.geometry;
      n += g.index ? g.index.count / 3 : g.attributes.position.count / 3;
    }
  });
  return Math.round(n);
}

function frame(obj) {
  const box = new THREE.Box3().setFromObject(obj);
  const size = box.getSize(new THREE.Vector3());
  const center = box.getCenter(new THREE.Vector3());
  const radius = Math.max(size.length() / 2, 1e-3);
  const dist = radius / Math.sin((camera.fov * Math.PI) / 360) * 1.1;
  camera.near = dist / 1000;
  camera.far = dist * 100;
  camera.position.copy(center).add(new THREE.Vector3(0.6, -0.9, 0.7).normalize().multiplyScalar(dist));
  camera.updateProjectionMatrix();
  controls.target.copy(center);
  controls.update();
  home = { position: camera.position.clone(), target: center.clone() };
}

const material = new THREE.MeshStandardMaterial({ color: 0xe8d3b0, roughness: 0.6, metalness: 0.05, side: THREE.DoubleSide });

async function show(url, format, label) {
  say("Loading " + label + "…");
  let obj;
  try {
    const res = await fetch(url, { credentials: "same-origin" });
    if (!res.ok) { throw new Error("the console answered " + res.status); }
    const buf = await res.arrayBuffer();
    if (format === "stl") {
      obj = new THREE.Mesh(new STLLoader().parse(buf), material);
    } else if (format === "3mf") {
      obj = new ThreeMFLoader().parse(buf);
      obj.traverse((o) => { if (o.isMesh) { o.material = material; } });
    } else {
      obj = new OBJLoader().parse(new TextDecoder().decode(buf));
      obj.traverse((o) => { if (o.isMesh) { o.material = material; } });
    }
  } catch (e) {
    say("Could not show " + label + ": " + e.message);
    return;
  }
  obj.traverse((o) => {
    if (o.isMesh && o.geometry && !o.geometry.attributes.normal) { o.geometry.computeVertexNormals(); }
  });
  const n = triangles(obj);
  if (!renderer) {
    say("Read " + label + ": " + n + " triangles. This browser cannot draw 3D (WebGL is off).");
    return;
  }
  if (current) { scene.remove(current); }
  current = obj;
  scene.add(obj);
  frame(obj);
  draw();
  say("Showing " + label + ": " + n + " triangles.");
  canvas.setAttribute("aria-label", "3D view of " + label + ", " + n + " triangles");
}

function firstModel() { return document.querySelector("button.view-model"); }

document.addEventListener("click", (e) => {
  const b = e.target.closest("button.view-model");
  if (b) { show(b.dataset.modelUrl, b.dataset.format, b.dataset.label); }
  const t = e.target.closest("[data-view]");
  if (t && renderer && current) {
    const v = t.dataset.view;
    if (v === "reset" && home) {
      camera.position.copy(home.position);
      controls.target.copy(home.target);
    } else if (v === "in" || v === "out") {
      const dir = camera.position.clone().sub(controls.target).multiplyScalar(v === "in" ? 0.8 : 1.25);
      camera.position.copy(controls.target).add(dir);
    } else if (v === "left" || v === "right") {
      const a = (v === "left" ? 1 : -1) * Math.PI / 12;
      const off = camera.position.clone().sub(controls.target).applyAxisAngle(camera.up, a);
      camera.position.copy(controls.target).add(off);
    }
    controls.update();
    draw();
  }
});

document.addEventListener("case:updated", () => {
  if (!current) { const b = firstModel(); if (b) { b.click(); } }
});

setup();
const b = firstModel();
if (b) { b.click(); } else { say(renderer ? "No model to show yet." : "No model to show yet. (This browser cannot draw 3D: WebGL is off.)"); }
