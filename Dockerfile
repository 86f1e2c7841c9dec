# One image for the three vaultscan processes (control-plane, api, appliance); the
# compose file picks the entry point. Not built in CI (no Docker engine there).
FROM node:24-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
USER node
