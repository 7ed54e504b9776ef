import { createApp } from 'vue'
import { createAuthClient } from '@bastion/client'
import { createAuthPlugin } from '@bastion/client/vue'
import App from './App.vue'

// Same origin as the API (Fastify serves this page): no baseUrl, the CSRF cookie is readable.
const auth = createAuthClient()
createApp(App).use(createAuthPlugin(auth, { loadSession: false })).mount('#app')
