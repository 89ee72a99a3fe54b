# syntax=docker/dockerfile:1
# tenant-isolation-operator image: compiled JavaScript and production dependencies on distroless Node.js,
# running as the distroless nonroot user (65532), as config/manager/deployment.yaml expects.
#   docker build -t tenant-isolation-operator:0.1.0 .

FROM node:24-bookworm-slim AS build
WORKDIR /app
# Dependencies first, so source edits reuse this layer.
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# Drop devDependencies after the build; among them the `node` package, which ships its own node binary.
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM gcr.io/distroless/nodejs24-debian12:nonroot
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="tenant-isolation-operator" \
      org.opencontainers.image.description="Kubernetes operator that makes tenant network isolation a declared, reconciled and verified fact" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="gcr.io/distroless/nodejs24-debian12:nonroot"
WORKDIR /app
ENV NODE_ENV=production
# package.json is needed at run time: "type": "module" makes dist/*.js ES modules.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER 65532:65532
# 8443 metrics (HTTPS; 8080 with --metrics-secure=false), 8081 health probes.
EXPOSE 8443 8081
ENTRYPOINT ["/nodejs/bin/node", "dist/cli/main.js"]
CMD ["run"]
