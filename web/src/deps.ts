export { api, APIError, errorBox, h, labelsText, setParams } from "./api";
export { apply } from "./complete";
